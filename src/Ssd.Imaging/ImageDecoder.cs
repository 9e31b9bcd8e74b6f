using System.Runtime.InteropServices;
using SkiaSharp;
using Ssd.Engine.Imaging;

namespace Ssd.Imaging;

/// <summary>The encoded formats <see cref="ImageDecoder"/> reads.</summary>
public enum EncodedImageFormat
{
    /// <summary>JPEG (JFIF or EXIF; baseline, progressive, grey or CMYK).</summary>
    Jpeg,
    /// <summary>PNG (8 or 16 bits per sample, grey, palette, alpha).</summary>
    Png,
    /// <summary>WebP (lossy or lossless).</summary>
    WebP,
    /// <summary>Windows bitmap.</summary>
    Bmp,
    /// <summary>GIF: the first frame.</summary>
    Gif,
}

/// <summary>
/// What an image file's header declares, read without decoding the pixels: the stored size, the format and the EXIF
/// orientation that decoding applies (<see cref="ExifOrientation"/>), hence the size of the decoded, upright image.
/// </summary>
public readonly record struct ImageHeader(int StoredWidth, int StoredHeight, EncodedImageFormat Format, int Orientation)
{
    private bool Transposed => Orientation >= 5;
    /// <summary>The decoded (upright) image's width: the stored height when the orientation turns it by 90 degrees.</summary>
    public int Width => Transposed ? StoredHeight : StoredWidth;

    /// <summary>The decoded (upright) image's height.</summary>
    public int Height => Transposed ? StoredWidth : StoredHeight;

    /// <summary>How many pixels decoding takes (checked against <see cref="ImageLimits.MaxPixels"/>).</summary>
    public long Pixels => (long)StoredWidth * StoredHeight;
}

/// <summary>
/// Decodes JPEG, PNG, WebP, BMP and GIF (the first frame) with SkiaSharp into an <see cref="RgbImage"/>, giving the
/// pixels cv2.imread(path, IMREAD_COLOR) gives (in RGB order): libjpeg-turbo's JPEG decoding (bit-identical to
/// OpenCV's on real photos), no colour management (ICC profiles and PNG gamma are ignored, as OpenCV does), grey
/// replicated to R, G and B, alpha dropped without blending (the stored colour is kept even where alpha is 0),
/// 16-bit PNG samples reduced to their high byte (libpng's strip_16: <see cref="Png16"/>), and the EXIF orientation applied where and how
/// OpenCV applies it (<see cref="ExifOrientation"/>). CMYK JPEGs are converted by Skia (c k / 255), OpenCV uses
/// k - ((255 - c) k &gt;&gt; 8): within a level. GIF (which OpenCV 4.6 does not read) decodes as PIL's first frame does,
/// the transparent palette entry keeping its colour.
/// Nothing is invented: a truncated or corrupt file is an <see cref="InvalidDataException"/> naming it, never an image
/// with made-up rows. The header's size is checked against <see cref="ImageLimits"/> before any pixel memory is taken.
/// </summary>
public static class ImageDecoder
{
    /// <summary>The formats read, as error messages name them.</summary>
    public const string SupportedFormats = "JPEG, PNG, WebP, BMP or GIF";

    /// <summary>Reads and decodes an image file (<see cref="ImageFile.ReadAllBytes(string, ImageLimits?)"/>).</summary>
    public static RgbImage Load(string path, ImageLimits? limits = null) => Decode(ImageFile.ReadAllBytes(path, limits), path, limits);

    /// <summary>Reads a stream to its end and decodes it; <paramref name="name"/> names it in error messages.</summary>
    public static RgbImage Decode(Stream stream, string name = "stream", ImageLimits? limits = null) =>
        Decode(ImageFile.ReadAllBytes(stream, name, limits), name, limits);

    /// <summary>Decodes an encoded image; <paramref name="name"/> names it in error messages.</summary>
    public static RgbImage Decode(ReadOnlySpan<byte> encoded, string name = "image", ImageLimits? limits = null)
    {
        limits ??= ImageLimits.Default;
        limits.Validate();
        using var data = Open(encoded, name);
        using var codec = CreateCodec(data, name, out var header, encoded);
        CheckBudget(header, name, limits);
        var stored = DecodePixels(codec, header, encoded, name);
        return ExifOrientation.Apply(stored, header.Orientation);
    }

    /// <summary>The header of an encoded image (size, format, orientation), without decoding pixels or checking budgets.</summary>
    public static ImageHeader ReadHeader(ReadOnlySpan<byte> encoded, string name = "image")
    {
        using var data = Open(encoded, name);
        using var codec = CreateCodec(data, name, out var header, encoded);
        return header;
    }

    /// <summary>Throws when the image is larger than the per-image budget (or the engine's absolute limits).</summary>
    public static void CheckBudget(ImageHeader header, string name, ImageLimits? limits = null)
    {
        limits ??= ImageLimits.Default;
        if (header.Pixels > limits.MaxPixels)
            throw new InvalidDataException($"{name}: the image is {header.StoredWidth}x{header.StoredHeight} = {header.Pixels:N0} pixels, "
                + $"over the {limits.MaxPixels:N0}-pixel budget per image (ImageLimits.MaxPixels): refused before decoding");
        try { RgbImage.CheckSize(header.StoredWidth, header.StoredHeight); }
        catch (ArgumentException e) { throw new InvalidDataException($"{name}: {e.Message}", e); }
    }

    private static SKData Open(ReadOnlySpan<byte> encoded, string name)
    {
        if (encoded.IsEmpty) throw new InvalidDataException($"{name}: the image data is empty");
        return SKData.CreateCopy(encoded);
    }

    private static SKCodec CreateCodec(SKData data, string name, out ImageHeader header, ReadOnlySpan<byte> encoded)
    {
        // The codec owns the stream from here on (and frees it when it cannot be created).
        var codec = SKCodec.Create(new SKMemoryStream(data), out var result);
        if (codec is null)
            throw new InvalidDataException(result switch
            {
                SKCodecResult.IncompleteInput => $"{name}: truncated image: the data ends inside the header",
                SKCodecResult.ErrorInInput or SKCodecResult.InvalidInput => $"{name}: corrupt image header",
                _ => $"{name}: not an image this decoder reads ({SupportedFormats})",
            });
        try
        {
            var format = codec.EncodedFormat switch
            {
                SKEncodedImageFormat.Jpeg => EncodedImageFormat.Jpeg,
                SKEncodedImageFormat.Png => EncodedImageFormat.Png,
                SKEncodedImageFormat.Webp => EncodedImageFormat.WebP,
                SKEncodedImageFormat.Bmp => EncodedImageFormat.Bmp,
                SKEncodedImageFormat.Gif => EncodedImageFormat.Gif,
                var other => throw new InvalidDataException($"{name}: {other} images are not supported; the decoder reads {SupportedFormats}"),
            };
            var info = codec.Info;
            if (info.Width <= 0 || info.Height <= 0) throw new InvalidDataException($"{name}: the header declares an empty {info.Width}x{info.Height} image");
            header = new ImageHeader(info.Width, info.Height, format, ExifOrientation.Read(encoded, format));
            return codec;
        }
        catch
        {
            codec.Dispose();
            throw;
        }
    }

    /// <summary>The stored (not yet oriented) pixels, decoded into native memory as RGBA and copied out as RGB.</summary>
    private static unsafe RgbImage DecodePixels(SKCodec codec, ImageHeader header, ReadOnlySpan<byte> encoded, string name)
    {
        // Skia rounds 16-bit samples to 8 bits where OpenCV keeps the high byte: those PNGs are decoded by Png16.
        if (header.Format == EncodedImageFormat.Png && Png16.BitDepth(encoded) == 16) return Png16.Decode(encoded, name);
        int w = header.StoredWidth, h = header.StoredHeight;
        var info = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul, null);
        long rowBytes = 4L * w;
        var buffer = (byte*)NativeMemory.Alloc((nuint)(rowBytes * h));
        try
        {
            var result = codec.GetPixels(info, (nint)buffer, (int)rowBytes, new SKCodecOptions(0));
            if (result != SKCodecResult.Success)
                throw new InvalidDataException(result switch
                {
                    SKCodecResult.IncompleteInput => $"{name}: truncated image: the data ends before the last pixel row (no pixels are made up for the rest)",
                    SKCodecResult.ErrorInInput or SKCodecResult.InvalidInput => $"{name}: corrupt image data",
                    _ => $"{name}: the image cannot be decoded ({result})",
                });
            var rgb = new byte[3L * w * h];
            // GIF: Skia gives the transparent palette index as transparent black; keep its stored colour instead.
            var gif = header.Format == EncodedImageFormat.Gif ? GifTransparency.FirstFrame(encoded) : null;
            for (int y = 0; y < h; y++)
            {
                var src = new ReadOnlySpan<byte>(buffer + rowBytes * y, (int)rowBytes);
                var dst = rgb.AsSpan(3 * w * y, 3 * w);
                for (int x = 0, s = 0, d = 0; x < w; x++, s += 4, d += 3)
                {
                    dst[d] = src[s];
                    dst[d + 1] = src[s + 1];
                    dst[d + 2] = src[s + 2];
                }
                if (gif is { } t && y >= t.Top && y < t.Top + t.Height)
                    for (int x = Math.Max(0, t.Left); x < Math.Min(w, t.Left + t.Width); x++)
                        if (src[4 * x + 3] == 0) (dst[3 * x], dst[3 * x + 1], dst[3 * x + 2]) = (t.R, t.G, t.B);
            }
            return new RgbImage(w, h, rgb);
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }
}
