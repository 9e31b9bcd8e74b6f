namespace Ssd.Kernels.Preprocess;

/// <summary>Which library's resize the pre-processing reproduces, bit for bit.</summary>
public enum ResizeKind
{
    /// <summary>cv2.resize(img, (W, H), interpolation=INTER_LINEAR) on uint8 (Caffe SSD, ssd.pytorch).</summary>
    OpenCvLinear,

    /// <summary>torch.nn.functional.interpolate(bilinear, align_corners=False) on the normalised float image (torchvision).</summary>
    TorchBilinear,
}

/// <summary>
/// How one 8-bit RGB image becomes the network input: resized to Width x Height, put in BGR order when
/// <see cref="Bgr"/>, scaled to 0..1 when <see cref="UnitRange"/> (x / 255, as torchvision's to_tensor), then
/// (x - Mean[c]) * Scale / Std[c] with Mean and Std in the network's channel order, each operation rounded to float
/// in that order: blobFromImage's (x - mean) * scalefactor when Std is 1, torchvision's (x - mean) / std when Scale
/// is 1 (multiplying or dividing by 1 is exact). OpenCV resizes the 8-bit image first and normalises the rounded
/// result; torchvision normalises first and resizes the floats.
/// </summary>
public sealed record PreprocessSettings
{
    /// <summary>The network input width in pixels.</summary>
    public required int Width { get; init; }
    /// <summary>The network input height in pixels.</summary>
    public required int Height { get; init; }
    /// <summary>Whose resize is reproduced.</summary>
    public required ResizeKind Resize { get; init; }
    /// <summary>Whether the output channels are blue, green, red (Caffe); otherwise red, green, blue.</summary>
    public bool Bgr { get; init; }
    /// <summary>Whether the pixels are divided by 255 first.</summary>
    public bool UnitRange { get; init; }
    /// <summary>The per-channel mean subtracted, in the output's channel order and the pixels' range.</summary>
    public float[] Mean { get; init; } = [0f, 0f, 0f];
    /// <summary>The per-channel divisor, in the output's channel order (1: none).</summary>
    public float[] Std { get; init; } = [1f, 1f, 1f];
    /// <summary>The factor applied after the mean (1: none).</summary>
    public float Scale { get; init; } = 1f;

    /// <summary>Floats per image in the NCHW output.</summary>
    public long OutputLength => 3L * Width * Height;

    /// <summary>Checks the settings.</summary>
    /// <exception cref="ArgumentException">A size is outside 1..32768, Mean or Std does not have 3 entries, or a Std or the Scale is 0 or not finite.</exception>
    public void Validate()
    {
        if (Width <= 0 || Height <= 0 || Width > 32768 || Height > 32768)
            throw new ArgumentException($"preprocess: network input size {Width}x{Height} is out of range (1..32768)");
        if (Mean is not { Length: 3 } || Std is not { Length: 3 })
            throw new ArgumentException("preprocess: mean and std need 3 values (one per channel)");
        foreach (var s in Std)
            if (!(s != 0f && float.IsFinite(s))) throw new ArgumentException($"preprocess: std {s} must be finite and non-zero");
        if (!(Scale != 0f && float.IsFinite(Scale))) throw new ArgumentException($"preprocess: scale {Scale} must be finite and non-zero");
    }

    internal PreprocessConstants Constants(int srcWidth, int srcHeight) => new(
        srcWidth, srcHeight, Width, Height, Bgr ? 1 : 0, UnitRange ? 1 : 0,
        Mean[0], Mean[1], Mean[2], Std[0], Std[1], Std[2], Scale);
}

/// <summary>The scalar parameters the kernels take (kernel parameters must be plain structs).</summary>
public readonly record struct PreprocessConstants(
    int SrcWidth, int SrcHeight, int DstWidth, int DstHeight, int Bgr, int UnitRange,
    float Mean0, float Mean1, float Mean2, float Std0, float Std1, float Std2, float Scale)
{
    /// <summary>The source channel (RGB order) that feeds network channel <paramref name="c"/>.</summary>
    public int SourceChannel(int c) => Bgr != 0 ? 2 - c : c;

    /// <summary>(x - mean) * scale / std of one 8-bit sample for network channel c, in float32 as numpy/torch/OpenCV do it.</summary>
    public float Normalise(int pixel, int c)
    {
        float x = UnitRange != 0 ? pixel / 255f : pixel;
        float mean = c == 0 ? Mean0 : c == 1 ? Mean1 : Mean2;
        float std = c == 0 ? Std0 : c == 1 ? Std1 : Std2;
        return (x - mean) * Scale / std;
    }
}
