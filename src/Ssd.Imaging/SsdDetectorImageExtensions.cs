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
    /// <param name="detector">The detector.</param>
    /// <param name="path">The image file.</param>
    /// <param name="options">This call's settings (null: the detector's).</param>
    /// <param name="limits">Decoding budgets (null: <see cref="ImageLimits.Default"/>).</param>
    public static IReadOnlyList<Detection> Detect(this SsdDetector detector, string path, DetectOptions? options = null, ImageLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(detector);
        return detector.Detect(ImageDecoder.Load(path, limits), options);
    }

    /// <summary>Detects objects in an encoded image read from <paramref name="stream"/> (to its end).</summary>
    /// <param name="detector">The detector.</param>
    /// <param name="stream">The encoded image.</param>
    /// <param name="options">This call's settings (null: the detector's).</param>
    /// <param name="limits">Decoding budgets (null: <see cref="ImageLimits.Default"/>).</param>
    public static IReadOnlyList<Detection> Detect(this SsdDetector detector, Stream stream, DetectOptions? options = null, ImageLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(detector);
        return detector.Detect(ImageDecoder.Decode(stream, "stream", limits), options);
    }

    /// <summary>Detects objects in an encoded image held in memory (the bytes of a JPEG, PNG, WebP, BMP or GIF file).</summary>
    /// <param name="detector">The detector.</param>
    /// <param name="encoded">The encoded image.</param>
    /// <param name="options">This call's settings (null: the detector's).</param>
    /// <param name="limits">Decoding budgets (null: <see cref="ImageLimits.Default"/>).</param>
    public static IReadOnlyList<Detection> Detect(this SsdDetector detector, ReadOnlySpan<byte> encoded, DetectOptions? options = null, ImageLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(detector);
        return detector.Detect(ImageDecoder.Decode(encoded, "image", limits), options);
    }

    /// <summary>Reads and decodes an image file, then detects on the thread pool.</summary>
    /// <param name="detector">The detector.</param>
    /// <param name="path">The image file.</param>
    /// <param name="options">This call's settings (null: the detector's).</param>
    /// <param name="limits">Decoding budgets (null: <see cref="ImageLimits.Default"/>).</param>
    /// <param name="cancellationToken">Checked before the file is read and before the detection starts.</param>
    public static async Task<IReadOnlyList<Detection>> DetectAsync(this SsdDetector detector, string path, DetectOptions? options = null,
        ImageLimits? limits = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(detector);
        var image = await Task.Run(() => ImageDecoder.Load(path, limits), cancellationToken).ConfigureAwait(false);
        return await detector.DetectAsync(image, options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads an encoded image from <paramref name="stream"/> (to its end), decodes it and detects, on the thread pool.</summary>
    /// <param name="detector">The detector.</param>
    /// <param name="stream">The encoded image.</param>
    /// <param name="options">This call's settings (null: the detector's).</param>
    /// <param name="limits">Decoding budgets (null: <see cref="ImageLimits.Default"/>); the stream is read up to the file budget.</param>
    /// <param name="cancellationToken">Checked before the stream is read and before the detection starts.</param>
    public static async Task<IReadOnlyList<Detection>> DetectAsync(this SsdDetector detector, Stream stream, DetectOptions? options = null,
        ImageLimits? limits = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(detector);
        ArgumentNullException.ThrowIfNull(stream);
        var image = await Task.Run(() => ImageDecoder.Decode(stream, "stream", limits), cancellationToken).ConfigureAwait(false);
        return await detector.DetectAsync(image, options, cancellationToken).ConfigureAwait(false);
    }
}
