using Ssd.Engine.Detection;

namespace Ssd.Imaging;

/// <summary>
/// Detection straight from encoded images (a file, a stream, bytes in memory), decoded by <see cref="ImageDecoder"/>
/// as cv2.imread decodes them (EXIF orientation applied, budgets from <see cref="ImageLimits"/>). Boxes are in the
/// pixels of the upright image. A file that cannot be read or decoded throws <see cref="InvalidDataException"/>.
/// </summary>
public static class SsdDetectorImageExtensions
{
    /// <summary>Detects objects in an image file (JPEG, PNG, WebP, BMP or GIF).</summary>
    public static IReadOnlyList<Detection> Detect(this SsdDetector detector, string path, ImageLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(detector);
        return detector.Detect(ImageDecoder.Load(path, limits));
    }

    /// <summary>Detects objects in an encoded image read from <paramref name="stream"/> (to its end).</summary>
    public static IReadOnlyList<Detection> Detect(this SsdDetector detector, Stream stream, ImageLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(detector);
        return detector.Detect(ImageDecoder.Decode(stream, "stream", limits));
    }

    /// <summary>Detects objects in an encoded image held in memory (the bytes of a JPEG, PNG, WebP, BMP or GIF file).</summary>
    public static IReadOnlyList<Detection> Detect(this SsdDetector detector, ReadOnlySpan<byte> encoded, ImageLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(detector);
        return detector.Detect(ImageDecoder.Decode(encoded, "image", limits));
    }
}
