using Ssd.Engine.Imaging;

namespace Ssd.Engine.Detection;

/// <summary>Detection on raw pixel buffers (a camera frame, another library's bitmap); encoded files: Ssd.Imaging.</summary>
public static class SsdDetectorPixelExtensions
{
    /// <summary>
    /// Detects objects in a raw 8-bit buffer of <paramref name="width"/> x <paramref name="height"/> pixels in
    /// <paramref name="layout"/> order; <paramref name="stride"/> is the bytes from one row to the next (0: packed).
    /// </summary>
    public static IReadOnlyList<Detection> Detect(this SsdDetector detector, ReadOnlySpan<byte> pixels, int width, int height,
        PixelLayout layout, int stride = 0)
    {
        ArgumentNullException.ThrowIfNull(detector);
        return detector.Detect(RgbImage.FromPixels(pixels, width, height, layout, stride));
    }
}
