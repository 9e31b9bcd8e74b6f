namespace Ssd.Engine.PostProcessing;

/// <summary>
/// One detection after post-processing: the network's class index (the background is never reported), its score
/// and the box corners in original-image pixels (normalised [0, 1] coordinates when no image size is given).
/// </summary>
public readonly record struct PostDetection(int ClassId, float Score, float X1, float Y1, float X2, float Y2);

/// <summary>An image's size in pixels.</summary>
public readonly record struct ImageSize(int Width, int Height)
{
    /// <summary>1 x 1: boxes stay in normalised [0, 1] coordinates.</summary>
    public static ImageSize Normalised { get; } = new(1, 1);
}
