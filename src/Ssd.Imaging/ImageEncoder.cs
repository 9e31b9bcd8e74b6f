using SkiaSharp;
using Ssd.Engine.Imaging;
using Ssd.Weights.IO;

namespace Ssd.Imaging;

/// <summary>Encodes an <see cref="RgbImage"/> as PNG, JPEG or WebP with SkiaSharp; files are written atomically.</summary>
public static class ImageEncoder
{
    /// <summary>The format a file name asks for (.png, .jpg / .jpeg, .webp), or null for any other extension.</summary>
    public static EncodedImageFormat? FormatFor(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".png" => EncodedImageFormat.Png,
        ".jpg" or ".jpeg" => EncodedImageFormat.Jpeg,
        ".webp" => EncodedImageFormat.WebP,
        _ => null,
    };

    /// <summary>The encoded bytes; <paramref name="quality"/> (1..100) applies to JPEG and lossy WebP.</summary>
    public static byte[] Encode(RgbImage image, EncodedImageFormat format, int quality = 92)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (quality is < 1 or > 100) throw new ArgumentException($"image quality {quality} is not in 1..100", nameof(quality));
        var skFormat = format switch
        {
            EncodedImageFormat.Png => SKEncodedImageFormat.Png,
            EncodedImageFormat.Jpeg => SKEncodedImageFormat.Jpeg,
            EncodedImageFormat.WebP => SKEncodedImageFormat.Webp,
            _ => throw new ArgumentException($"cannot encode {format}; PNG, JPEG and WebP are written", nameof(format)),
        };
        using var bitmap = SkiaBitmaps.ToBitmap(image);
        using var data = bitmap.Encode(skFormat, quality) ?? throw new InvalidOperationException($"SkiaSharp could not encode a {image.Width}x{image.Height} {format}");
        return data.ToArray();
    }

    /// <summary>The image as PNG file bytes.</summary>
    public static byte[] EncodePng(RgbImage image) => Encode(image, EncodedImageFormat.Png);

    /// <summary>Writes the image in the format its extension names, through <see cref="AtomicFile"/>.</summary>
    public static void Save(RgbImage image, string path, int quality = 92)
    {
        var format = FormatFor(path) ?? throw new ArgumentException($"{path}: an image output must end in .png, .jpg, .jpeg or .webp");
        AtomicFile.WriteAllBytes(path, Encode(image, format, quality));
    }
}
