using Ssd.Kernels.Core;

namespace Ssd.Kernels.Conv;

/// <summary>
/// Plain C# 2D convolution, the definition every kernel is tested against:
/// y[n,o,oy,ox] = b[o] + sum over (c in o's group, ky, kx) of w[o,c,ky,kx] * x[n, g*Cg + c, oy*s - p + ky*d, ox*s - p + kx*d],
/// with out-of-range input reading as zero; then max(y, 0) when ReLU is fused. Accumulates in double.
/// </summary>
public static class Conv2dReference
{
    /// <summary>Computes the convolution as the class summary defines.</summary>
    /// <param name="input">The input, NCHW of <paramref name="inShape"/>.</param>
    /// <param name="inShape">The input shape.</param>
    /// <param name="weight">The filters, OIHW [outChannels, C/groups, kH, kW].</param>
    /// <param name="bias">[outChannels] when <see cref="Conv2dParams.HasBias"/>, else ignored.</param>
    /// <param name="p">Kernel, stride, padding, dilation, groups, bias and ReLU.</param>
    /// <param name="outChannels">The output channels.</param>
    /// <param name="output">Receives the output, NCHW [N, outChannels, OH, OW].</param>
    /// <exception cref="ArgumentException">The parameters are impossible or a length does not match.</exception>
    public static void Forward(ReadOnlySpan<float> input, TensorShape inShape, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias,
        Conv2dParams p, int outChannels, Span<float> output)
    {
        var outShape = p.CheckLengths(inShape, outChannels, input.Length, weight.Length, bias.Length, output.Length);
        for (int n = 0; n < outShape.N; n++)
            for (int o = 0; o < outChannels; o++)
                ForwardPlane(input, inShape, weight, bias, p, outChannels, n, o, output);
    }

    /// <summary>
    /// Computes the single output plane (n, o). Planes are independent, so callers may compute them in parallel
    /// (the tests do, for SSD-sized layers). Lengths are not re-checked here: call through <see cref="Forward"/> or check first.
    /// </summary>
    public static void ForwardPlane(ReadOnlySpan<float> input, TensorShape inShape, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias,
        Conv2dParams p, int outChannels, int n, int o, Span<float> output)
    {
        var outShape = p.OutputShape(inShape, outChannels);
        int cg = inShape.C / p.Groups;           // input channels per group
        int og = outChannels / p.Groups;         // output channels per group
        int firstInput = o / og * cg;            // first input channel of o's group
        var acc = new double[outShape.PlaneSize];
        if (p.HasBias) Array.Fill(acc, bias[o]);

        for (int c = 0; c < cg; c++)
            for (int ky = 0; ky < p.KernelH; ky++)
                for (int kx = 0; kx < p.KernelW; kx++)
                {
                    double w = weight[((o * cg + c) * p.KernelH + ky) * p.KernelW + kx];
                    long plane = inShape.Offset(n, firstInput + c, 0, 0);
                    for (int oy = 0; oy < outShape.H; oy++)
                    {
                        int iy = oy * p.StrideH - p.PadH + ky * p.DilationH;
                        if (iy < 0 || iy >= inShape.H) continue;
                        for (int ox = 0; ox < outShape.W; ox++)
                        {
                            int ix = ox * p.StrideW - p.PadW + kx * p.DilationW;
                            if (ix < 0 || ix >= inShape.W) continue;
                            acc[oy * outShape.W + ox] += w * input[(int)(plane + (long)iy * inShape.W + ix)];
                        }
                    }
                }

        long dst = outShape.Offset(n, o, 0, 0);
        for (int i = 0; i < acc.Length; i++)
        {
            double y = acc[i];
            if (p.FuseRelu && y < 0) y = 0;
            output[(int)(dst + i)] = (float)y;
        }
    }
}
