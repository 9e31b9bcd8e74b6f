namespace Ssd.Engine.Imaging;

/// <summary>
/// A decoded 8-bit image: <see cref="Pixels"/> holds Width x Height pixels row by row, each R, G, B (interleaved,
/// no padding). Plain data: decoding and encoding live with the command line, not in the engine.
/// </summary>
public sealed class RgbImage
{
    /// <summary>Largest side and pixel count accepted (guards against absurd allocations from a bad header).</summary>
    public const int MaxSide = 32768;
    public const long MaxPixels = 1L << 28;

    public int Width { get; }
    public int Height { get; }
    public byte[] Pixels { get; }

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

    /// <summary>Throws ArgumentException when the size is not positive or is beyond the limits.</summary>
    public static void CheckSize(int width, int height)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"image: size {width}x{height} is empty");
        if (width > MaxSide || height > MaxSide) throw new ArgumentException($"image: size {width}x{height} exceeds {MaxSide} pixels per side");
        if ((long)width * height > MaxPixels) throw new ArgumentException($"image: {width}x{height} exceeds {MaxPixels} pixels");
    }

    public (byte R, byte G, byte B) this[int x, int y]
    {
        get { int i = 3 * (y * Width + x); return (Pixels[i], Pixels[i + 1], Pixels[i + 2]); }
        set { int i = 3 * (y * Width + x); Pixels[i] = value.R; Pixels[i + 1] = value.G; Pixels[i + 2] = value.B; }
    }
}
