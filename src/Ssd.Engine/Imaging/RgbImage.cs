namespace Ssd.Engine.Imaging;

/// <summary>
/// A decoded 8-bit image: <see cref="Pixels"/> holds Width x Height pixels row by row, each R, G, B (interleaved,
/// no padding). Plain data: decoding files and encoding them live in Ssd.Imaging (SkiaSharp), not in the engine;
/// <see cref="FromPixels"/> copies a raw buffer (RGB, BGR, RGBA or BGRA, any row stride) from a camera or another library.
/// </summary>
public sealed class RgbImage
{
    /// <summary>Largest side and pixel count accepted (guards against absurd allocations from a bad header).</summary>
    public const int MaxSide = 32768;
    /// <summary>Largest pixel count accepted (256 Mpx).</summary>
    public const long MaxPixels = 1L << 28;

    /// <summary>Pixels per row.</summary>
    public int Width { get; }

    /// <summary>Rows.</summary>
    public int Height { get; }

    /// <summary>Width x Height x 3 bytes: R, G, B per pixel, row by row (shared, not copied).</summary>
    public byte[] Pixels { get; }

    /// <summary>An image over <paramref name="pixels"/> (R, G, B interleaved, no padding; the array is used, not copied).</summary>
    /// <param name="width">Pixels per row.</param>
    /// <param name="height">Rows.</param>
    /// <param name="pixels">Exactly 3 x width x height bytes.</param>
    public RgbImage(int width, int height, byte[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        CheckSize(width, height);
        if (pixels.LongLength != 3L * width * height)
            throw new ArgumentException($"image: {pixels.LongLength} bytes is not {width}x{height}x3 RGB");
        Width = width;
        Height = height;
        Pixels = pixels;
    }

    /// <summary>A black image.</summary>
    public RgbImage(int width, int height) : this(width, height, new byte[3L * Math.Max(width, 0) * Math.Max(height, 0)]) { }

    /// <summary>
    /// Copies a raw 8-bit buffer into a new image. <paramref name="stride"/> is the distance in bytes between the starts
    /// of two rows (0: packed rows, width x bytes per pixel); alpha, when the layout has it, is dropped, not blended.
    /// </summary>
    public static RgbImage FromPixels(ReadOnlySpan<byte> pixels, int width, int height, PixelLayout layout, int stride = 0)
    {
        CheckSize(width, height);
        int bpp = layout.BytesPerPixel();
        long packed = (long)width * bpp;
        long rowStride = stride == 0 ? packed : stride;
        if (rowStride < packed)
            throw new ArgumentException($"image: stride {stride} is less than a {width}-pixel {layout} row ({packed} bytes)", nameof(stride));
        long needed = rowStride * (height - 1) + packed;
        if (pixels.Length < needed)
            throw new ArgumentException($"image: {pixels.Length} bytes is less than a {width}x{height} {layout} image with stride {rowStride} needs ({needed})", nameof(pixels));
        var rgb = new byte[3L * width * height];
        (int r, int b) = layout is PixelLayout.Bgr24 or PixelLayout.Bgra32 ? (2, 0) : (0, 2);
        for (int y = 0; y < height; y++)
        {
            var src = pixels.Slice((int)(rowStride * y), (int)packed);
            var dst = rgb.AsSpan(3 * width * y, 3 * width);
            if (layout == PixelLayout.Rgb24) { src.CopyTo(dst); continue; }
            for (int x = 0, s = 0, d = 0; x < width; x++, s += bpp, d += 3)
            {
                dst[d] = src[s + r];
                dst[d + 1] = src[s + 1];
                dst[d + 2] = src[s + b];
            }
        }
        return new RgbImage(width, height, rgb);
    }

    /// <summary>Throws ArgumentException when the size is not positive or is beyond the limits.</summary>
    public static void CheckSize(int width, int height)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"image: size {width}x{height} is empty");
        if (width > MaxSide || height > MaxSide) throw new ArgumentException($"image: size {width}x{height} exceeds {MaxSide} pixels per side");
        if ((long)width * height > MaxPixels) throw new ArgumentException($"image: {width}x{height} exceeds {MaxPixels} pixels");
    }

    /// <summary>The pixel at column <paramref name="x"/>, row <paramref name="y"/>.</summary>
    public (byte R, byte G, byte B) this[int x, int y]
    {
        get { int i = 3 * (y * Width + x); return (Pixels[i], Pixels[i + 1], Pixels[i + 2]); }
        set { int i = 3 * (y * Width + x); Pixels[i] = value.R; Pixels[i + 1] = value.G; Pixels[i + 2] = value.B; }
    }
}
