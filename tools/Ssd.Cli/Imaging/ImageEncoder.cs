using Ssd.Engine.Imaging;
using StbImageWriteSharp;

namespace Ssd.Cli.Imaging;

/// <summary>Writes an <see cref="RgbImage"/> as PNG or JPEG, chosen by the file extension.</summary>
public static class ImageEncoder
{
    public static void Save(RgbImage image, string path, int jpegQuality = 92)
    {
        ArgumentNullException.ThrowIfNull(image);
        var ext = Path.GetExtension(path).ToLowerInvariant();
        if (ext is not (".png" or ".jpg" or ".jpeg"))
            throw new ArgumentException($"{path}: output must be .png, .jpg or .jpeg");
        if (jpegQuality is < 1 or > 100) throw new ArgumentException($"JPEG quality {jpegQuality} is not in 1..100");
        using var stream = File.Create(path);
        var writer = new ImageWriter();
        if (ext == ".png") writer.WritePng(image.Pixels, image.Width, image.Height, ColorComponents.RedGreenBlue, stream);
        else writer.WriteJpg(image.Pixels, image.Width, image.Height, ColorComponents.RedGreenBlue, stream, jpegQuality);
    }

    public static byte[] EncodePng(RgbImage image)
    {
        using var stream = new MemoryStream();
        new ImageWriter().WritePng(image.Pixels, image.Width, image.Height, ColorComponents.RedGreenBlue, stream);
        return stream.ToArray();
    }
}
