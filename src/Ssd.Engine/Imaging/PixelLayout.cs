namespace Ssd.Engine.Imaging;

/// <summary>The byte order of one pixel in a raw 8-bit buffer (<see cref="RgbImage.FromPixels"/>).</summary>
public enum PixelLayout
{
    /// <summary>R, G, B: 3 bytes per pixel.</summary>
    Rgb24,
    /// <summary>B, G, R (OpenCV's Mat, GDI): 3 bytes per pixel.</summary>
    Bgr24,
    /// <summary>R, G, B, A: 4 bytes per pixel; alpha is ignored.</summary>
    Rgba32,
    /// <summary>B, G, R, A (SkiaSharp's and Windows' native order): 4 bytes per pixel; alpha is ignored.</summary>
    Bgra32,
}

/// <summary>Sizes of the <see cref="PixelLayout"/>s.</summary>
public static class PixelLayoutExtensions
{
    /// <summary>3 for RGB and BGR, 4 for RGBA and BGRA.</summary>
    public static int BytesPerPixel(this PixelLayout layout) => layout switch
    {
        PixelLayout.Rgb24 or PixelLayout.Bgr24 => 3,
        PixelLayout.Rgba32 or PixelLayout.Bgra32 => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(layout), layout, "unknown pixel layout"),
    };
}
