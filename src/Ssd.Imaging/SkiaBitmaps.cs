using SkiaSharp;
using Ssd.Engine.Imaging;

namespace Ssd.Imaging;

/// <summary>Copies between <see cref="RgbImage"/> (packed RGB) and opaque RGBA SkiaSharp bitmaps.</summary>
internal static class SkiaBitmaps
{
    public static SKBitmap ToBitmap(RgbImage image)
    {
        var bitmap = new SKBitmap(new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var dst = bitmap.GetPixelSpan();
        var src = image.Pixels;
        for (int i = 0, j = 0; i < src.Length; i += 3, j += 4)
        {
            dst[j] = src[i];
            dst[j + 1] = src[i + 1];
            dst[j + 2] = src[i + 2];
            dst[j + 3] = 255;
        }
        return bitmap;
    }

    public static RgbImage ToImage(SKBitmap bitmap)
    {
        if (bitmap.ColorType != SKColorType.Rgba8888 || bitmap.RowBytes != 4 * bitmap.Width)
            throw new ArgumentException("expected a packed RGBA bitmap", nameof(bitmap));
        var src = bitmap.GetPixelSpan();
        var rgb = new byte[3L * bitmap.Width * bitmap.Height];
        for (int i = 0, j = 0; i < rgb.Length; i += 3, j += 4)
        {
            rgb[i] = src[j];
            rgb[i + 1] = src[j + 1];
            rgb[i + 2] = src[j + 2];
        }
        return new RgbImage(bitmap.Width, bitmap.Height, rgb);
    }
}
