// PLACEHOLDER (helper `detect`): delete this file at merge time; the real type is helper `pre`'s
// src/Ssd.Engine/Imaging/RgbImage.cs. The detector only uses Width and Height and hands the image to IPreprocessor.
namespace Ssd.Engine.Imaging;

/// <summary>An 8-bit RGB image, pixels interleaved row by row.</summary>
public sealed class RgbImage
{
    public int Width { get; }
    public int Height { get; }
    public byte[] Pixels { get; }

    public RgbImage(int width, int height, byte[] pixels)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"image size {width}x{height} is not positive");
        if (pixels.Length != (long)width * height * 3) throw new ArgumentException($"image {width}x{height}: {pixels.Length} bytes, expected {width * height * 3}");
        (Width, Height, Pixels) = (width, height, pixels);
    }
}
