namespace Ssd.Kernels.BatchNorm;

/// <summary>
/// Plain C# gradients of a per-channel Scale (Caffe's Scale layer with one learned blob over the axis it scales, plus
/// the optional bias): the tensor is viewed as [outer, channels, inner] (NCHW with Caffe's default axis 1 is
/// outer = N, inner = H * W), y = x * s[c] + b[c]. dx = dy * s[c], ds[c] = sum over outer and inner of dy * x,
/// db[c] = sum of dy. Sums run in double; results are rounded once and overwrite their outputs.
/// </summary>
public static class ScaleBackwardReference
{
    /// <summary>The gradients of Caffe's Scale: dx = dy * scale[c]; dscale[c] and dbias[c] summed over the channel's elements (in double, rounded once).</summary>
    /// <param name="dBias">[channels], or empty when the layer has no bias.</param>
    /// <param name="outer">The number of blocks before the channel axis (the batch size for NCHW).</param>
    /// <param name="channels">The number of channels (the length of the per-channel vectors).</param>
    /// <param name="inner">The number of elements per channel in one block (H*W for NCHW).</param>
    /// <param name="x">The input, row-major (NCHW for a feature map).</param>
    /// <param name="scale">The per-channel scale, [channels].</param>
    /// <param name="dY">The gradient of the loss with respect to the output, shaped as the output.</param>
    /// <param name="dX">Receives the gradient with respect to the input, shaped as the input.</param>
    /// <param name="dScale">Receives the gradient with respect to the scale, [channels].</param>
    public static void Backward(int outer, int channels, int inner, ReadOnlySpan<float> x, ReadOnlySpan<float> scale,
        ReadOnlySpan<float> dY, Span<float> dX, Span<float> dScale, Span<float> dBias)
    {
        ScaleChecks.Backward(outer, channels, inner, x.Length, scale.Length, dY.Length, dX.Length, dScale.Length, dBias.Length);
        for (int k = 0; k < channels; k++)
        {
            double s = scale[k], ds = 0, db = 0;
            for (int o = 0; o < outer; o++)
            {
                int first = (o * channels + k) * inner;
                for (int i = 0; i < inner; i++)
                {
                    float dy = dY[first + i];
                    ds += (double)dy * x[first + i];
                    db += dy;
                    dX[first + i] = (float)(dy * s);
                }
            }
            dScale[k] = (float)ds;
            if (dBias.Length > 0) dBias[k] = (float)db;
        }
    }
}

internal static class ScaleChecks
{
    public static void Backward(int outer, int channels, int inner, long x, long scale, long dy, long dx, long dScale, long dBias)
    {
        if (outer <= 0 || channels <= 0 || inner <= 0)
            throw new ArgumentException($"scale: view [outer {outer}, channels {channels}, inner {inner}] has a non-positive dimension");
        long count = (long)outer * channels * inner;
        if (count > int.MaxValue) throw new ArgumentException($"scale: {count} elements is more than 2^31");
        if (x != count || dy != count || dx != count)
            throw new ArgumentException($"scale backward: x ({x}), dy ({dy}) and dx ({dx}) must each have {count} floats");
        if (scale != channels || dScale != channels)
            throw new ArgumentException($"scale backward: scale ({scale}) and dscale ({dScale}) must have one value per channel ({channels})");
        if (dBias != 0 && dBias != channels)
            throw new ArgumentException($"scale backward: dbias has {dBias} values, expected {channels} or none");
    }
}
