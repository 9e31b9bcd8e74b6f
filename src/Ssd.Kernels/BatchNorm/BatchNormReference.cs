namespace Ssd.Kernels.BatchNorm;

/// <summary>
/// Plain C# reference of Caffe's BatchNorm layer at inference (use_global_stats): per channel,
/// y = (x - mean) / sqrt(variance + eps), with sqrt(variance + eps) rounded to float first, as Caffe computes it
/// (caffe_add_scalar, caffe_sqrt, then caffe_div). Mean and variance are the stored running sums already divided
/// by the moving-average factor (the converter does that).
/// </summary>
public static class BatchNormReference
{
    /// <summary>y = (x - mean[c]) / sqrt(variance[c] + eps) for every element of channel c.</summary>
    /// <param name="g">The tensor seen around its channel axis.</param>
    /// <param name="x">The input.</param>
    /// <param name="mean">The running mean, [Channels].</param>
    /// <param name="variance">The running variance, [Channels].</param>
    /// <param name="eps">Added to the variance; finite and at least 0.</param>
    /// <param name="y">Receives the output, shaped as x.</param>
    /// <exception cref="ArgumentException">A length does not match the geometry, or eps is negative or not finite.</exception>
    public static void Forward(ChannelGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> variance, float eps,
        Span<float> y)
    {
        g.Check("batchnorm", x.Length, y.Length, ("mean", mean.Length), ("variance", variance.Length));
        var sd = StdDev(variance, eps);
        for (int o = 0; o < g.Outer; o++)
        for (int c = 0; c < g.Channels; c++)
        {
            int at = (o * g.Channels + c) * g.Inner;
            for (int i = at; i < at + g.Inner; i++) y[i] = Normalize(x[i], mean[c], sd[c]);
        }
    }

    /// <summary>sqrt(variance + eps) per channel, in float: the divisor every BatchNorm variant uses.</summary>
    public static float[] StdDev(ReadOnlySpan<float> variance, float eps)
    {
        if (!(eps >= 0f) || float.IsInfinity(eps)) throw new ArgumentException($"batchnorm: eps {eps} must be finite and non-negative");
        var sd = new float[variance.Length];
        for (int c = 0; c < sd.Length; c++) sd[c] = MathF.Sqrt(variance[c] + eps);
        return sd;
    }

    /// <summary>One element: (x - mean) / sd, with sd from <see cref="StdDev"/>.</summary>
    public static float Normalize(float x, float mean, float sd) => (x - mean) / sd;
}
