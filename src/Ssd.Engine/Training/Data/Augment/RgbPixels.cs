using Ssd.Engine.Imaging;

namespace Ssd.Engine.Training.Data.Augment;

/// <summary>
/// An RGB image under augmentation: <see cref="Width"/> x <see cref="Height"/> pixels row by row, three interleaved
/// channels of <typeparamref name="T"/> (bytes for torchvision's PIL images and Caffe's 8-bit cv::Mat, floats for
/// ssd.pytorch's unclipped float image). The geometric steps (crop, canvas, mirror) are the same copies for both.
/// </summary>
public sealed class RgbPixels<T> where T : unmanaged
{
    /// <summary>The width in pixels.</summary>
    public int Width { get; }
    /// <summary>The height in pixels.</summary>
    public int Height { get; }
    /// <summary>The pixels, row by row, R G B interleaved: 3 * Width * Height values.</summary>
    public T[] Pixels { get; }

    /// <summary>Wraps a pixel array (not copied).</summary>
    /// <param name="width">The width in pixels.</param>
    /// <param name="height">The height in pixels.</param>
    /// <param name="pixels">3 * width * height values.</param>
    /// <exception cref="ArgumentException">The size is out of range or the array's length does not match it.</exception>
    public RgbPixels(int width, int height, T[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        RgbImage.CheckSize(width, height);
        if (pixels.LongLength != 3L * width * height) throw new ArgumentException($"augmentation: {pixels.LongLength} values is not {width}x{height}x3");
        Width = width;
        Height = height;
        Pixels = pixels;
    }

    /// <summary>The pixels of [x, x + width) x [y, y + height), which must lie inside the image.</summary>
    public RgbPixels<T> Crop(int x, int y, int width, int height)
    {
        if (x < 0 || y < 0 || width <= 0 || height <= 0 || x + width > Width || y + height > Height)
            throw new ArgumentOutOfRangeException(nameof(x), $"crop {width}x{height} at ({x}, {y}) is not inside the {Width}x{Height} image");
        var output = new T[3 * width * height];
        for (int row = 0; row < height; row++)
            Pixels.AsSpan(3 * ((y + row) * Width + x), 3 * width).CopyTo(output.AsSpan(3 * row * width));
        return new RgbPixels<T>(width, height, output);
    }

    /// <summary>A <paramref name="width"/> x <paramref name="height"/> canvas of <paramref name="fill"/> (R, G, B) with this image at (left, top).</summary>
    public RgbPixels<T> Place(int width, int height, int left, int top, ReadOnlySpan<T> fill)
    {
        if (fill.Length != 3) throw new ArgumentException("augmentation: the canvas fill needs three channels");
        if (left < 0 || top < 0 || left + Width > width || top + Height > height)
            throw new ArgumentOutOfRangeException(nameof(left), $"a {Width}x{Height} image at ({left}, {top}) does not fit a {width}x{height} canvas");
        var output = new T[3L * width * height];
        for (int p = 0; p < output.Length; p += 3) { output[p] = fill[0]; output[p + 1] = fill[1]; output[p + 2] = fill[2]; }
        for (int row = 0; row < Height; row++)
            Pixels.AsSpan(3 * row * Width, 3 * Width).CopyTo(output.AsSpan(3 * ((top + row) * width + left)));
        return new RgbPixels<T>(width, height, output);
    }

    /// <summary>Mirrors the image left to right, in place.</summary>
    public void FlipHorizontal()
    {
        for (int row = 0; row < Height; row++)
        {
            var line = Pixels.AsSpan(3 * row * Width, 3 * Width);
            for (int a = 0, b = Width - 1; a < b; a++, b--)
                for (int c = 0; c < 3; c++) (line[3 * a + c], line[3 * b + c]) = (line[3 * b + c], line[3 * a + c]);
        }
    }

    /// <summary>Output channel c takes input channel <paramref name="order"/>[c], in place.</summary>
    public void PermuteChannels(ReadOnlySpan<int> order)
    {
        if (order.Length != 3) throw new ArgumentException("augmentation: a channel order has three entries");
        Span<T> pixel = stackalloc T[3];
        for (int p = 0; p < Pixels.Length; p += 3)
        {
            pixel[0] = Pixels[p + order[0]]; pixel[1] = Pixels[p + order[1]]; pixel[2] = Pixels[p + order[2]];
            pixel.CopyTo(Pixels.AsSpan(p, 3));
        }
    }
}

/// <summary>Conversions between <see cref="RgbImage"/> and <see cref="RgbPixels{T}"/>.</summary>
internal static class RgbPixels
{
    public static RgbPixels<byte> Of(RgbImage image) => new(image.Width, image.Height, (byte[])image.Pixels.Clone());

    public static RgbImage ToImage(this RgbPixels<byte> pixels) => new(pixels.Width, pixels.Height, pixels.Pixels);

    /// <summary>ssd.pytorch's ConvertFromInts: the 8-bit values as float32.</summary>
    public static RgbPixels<float> ToFloat(RgbImage image)
    {
        var f = new float[image.Pixels.Length];
        for (int i = 0; i < f.Length; i++) f[i] = image.Pixels[i];
        return new RgbPixels<float>(image.Width, image.Height, f);
    }
}
