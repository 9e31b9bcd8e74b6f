namespace Ssd.Kernels.L2Norm;

/// <summary>
/// Where the epsilon goes in the per-pixel channel norm. The three SSD implementations each put it somewhere
/// else, so each converted checkpoint needs its own mode to be exact.
/// </summary>
public enum L2NormEpsilon
{
    /// <summary>Caffe's Normalize layer: y = x / sqrt(sum_c x^2 + eps) * scale, eps = 1e-10.</summary>
    InsideSqrt,
    /// <summary>ssd.pytorch's L2Norm: y = x / (sqrt(sum_c x^2) + eps) * scale, eps = 1e-10.</summary>
    AfterSqrt,
    /// <summary>torchvision's SSD (F.normalize): y = x / max(sqrt(sum_c x^2), eps) * scale, eps = 1e-12.</summary>
    ClampMin,
}

/// <summary>The epsilon each framework uses with its mode.</summary>
internal static class L2NormDefaults
{
    public const float CaffeEps = 1e-10f;
    public const float SsdPytorchEps = 1e-10f;
    public const float TorchvisionEps = 1e-12f;
}
