using Ssd.Engine.Imaging;

namespace Ssd.Engine.Detection;

/// <summary>Detection on raw pixel buffers (a camera frame, another library's bitmap); encoded files: Ssd.Imaging.</summary>
public static class SsdDetectorPixelExtensions
{
    /// <summary>
    /// Detects objects in a raw 8-bit buffer of <paramref name="width"/> x <paramref name="height"/> pixels in
    /// <paramref name="layout"/> order; <paramref name="stride"/> is the bytes from one row to the next (0: packed).
    /// </summary>
    /// <param name="detector">The detector.</param>
    /// <param name="pixels">The pixels, row by row.</param>
    /// <param name="width">Pixels per row.</param>
    /// <param name="height">Rows.</param>
    /// <param name="layout">The bytes of one pixel (RGB, BGR, RGBA...).</param>
    /// <param name="stride">Bytes from one row to the next (0: width x the pixel's bytes).</param>
    /// <param name="options">This call's settings (null: the detector's).</param>
    public static IReadOnlyList<Detection> Detect(this SsdDetector detector, ReadOnlySpan<byte> pixels, int width, int height,
        PixelLayout layout, int stride = 0, DetectOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(detector);
        return detector.Detect(RgbImage.FromPixels(pixels, width, height, layout, stride), options);
    }
}
