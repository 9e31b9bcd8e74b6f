namespace Ssd.Engine.Detection;

/// <summary>
/// One image's outcome in <see cref="SsdDetector.DetectEach"/>: its detections, or why it could not be run (for
/// instance <see cref="ImageSizeException"/>: too small for the network at its native size). Other images of the same
/// call are not affected.
/// </summary>
public sealed record DetectionResult(IReadOnlyList<Detection> Detections, Exception? Error)
{
    /// <summary>True when the image ran (its <see cref="Detections"/> are its result; possibly none).</summary>
    public bool Succeeded => Error is null;
}

/// <summary>An image the network cannot take at its size (at the native input size: smaller than the layers allow).
/// An ArgumentException: the input, not the model, is at fault.</summary>
public sealed class ImageSizeException(string message, Exception? inner = null) : ArgumentException(message, inner);
