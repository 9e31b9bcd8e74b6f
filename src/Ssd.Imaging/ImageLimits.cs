using Ssd.Engine.Imaging;

namespace Ssd.Imaging;

/// <summary>
/// Resource budgets for reading images, checked before the memory is taken: a file larger than
/// <see cref="MaxFileBytes"/>, or an image whose header declares more than <see cref="MaxPixels"/> pixels (a
/// decompression bomb: a few hundred KB of PNG can declare gigabytes of pixels), is an error naming the budget. A batch
/// of images (the CLI's detect) holds at most <see cref="MaxBatchPixels"/> decoded pixels at once; one image alone
/// may always form a batch. Decoding takes up to 7 bytes per pixel while it runs (4 for the decoder's RGBA buffer, 3
/// for the RGB result; 16-bit PNGs 11), and 3 per pixel after.
/// </summary>
public sealed record ImageLimits
{
    /// <summary>The defaults: 128 Mi pixels per image (an 11585 x 11585 square), 256 Mi pixels per batch, 256 MiB per file.</summary>
    public static ImageLimits Default { get; } = new();

    /// <summary>Largest width x height of one image (default 2^27 = 134,217,728; at most <see cref="RgbImage.MaxPixels"/>).</summary>
    public long MaxPixels { get; init; } = 1L << 27;

    /// <summary>Largest sum of width x height over the images decoded for one batch (default 2^28).</summary>
    public long MaxBatchPixels { get; init; } = 1L << 28;

    /// <summary>Largest encoded file or stream (default 256 MiB).</summary>
    public long MaxFileBytes { get; init; } = 256L << 20;

    internal void Validate()
    {
        if (MaxPixels <= 0 || MaxPixels > RgbImage.MaxPixels)
            throw new ArgumentException($"image limits: MaxPixels {MaxPixels} must be in 1..{RgbImage.MaxPixels}");
        if (MaxBatchPixels <= 0) throw new ArgumentException($"image limits: MaxBatchPixels {MaxBatchPixels} must be positive");
        if (MaxFileBytes <= 0 || MaxFileBytes > Array.MaxLength)
            throw new ArgumentException($"image limits: MaxFileBytes {MaxFileBytes} must be in 1..{Array.MaxLength}");
    }
}
