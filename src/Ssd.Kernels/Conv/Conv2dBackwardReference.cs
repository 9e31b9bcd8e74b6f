using Ssd.Kernels.Activation;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Conv;

/// <summary>
/// Plain C# gradients of <see cref="Conv2dReference"/>, the definition every backward kernel is tested against.
/// With g the incoming gradient of the convolution's output before any ReLU (dy masked by y &gt; 0 when the ReLU is
/// fused: <see cref="ReluBackwardReference"/>, see <see cref="Backward"/>), and (oy, ox) running over the output positions whose tap (ky, kx) reads
/// input (iy, ix) = (oy*s - p + ky*d, ox*s - p + kx*d):
/// <list type="bullet">
/// <item>dx[n, c, iy, ix] = sum over o in c's group, ky, kx of w[o, c - group start, ky, kx] * g[n, o, oy, ox];</item>
/// <item>dw[o, c, ky, kx] = sum over n, oy, ox of g[n, o, oy, ox] * x[n, group start + c, iy, ix] (taps in the
/// padding contribute nothing);</item>
/// <item>db[o] = sum over n, oy, ox of g[n, o, oy, ox].</item>
/// </list>
/// Every sum accumulates in double and is rounded once. Gradients overwrite their outputs (a tensor read by two
/// layers gets the sum of two backward calls; the caller adds them).
/// </summary>
public static class Conv2dBackwardReference
{
    /// <summary>
    /// dx, dw and db of one convolution. When <see cref="Conv2dParams.FuseRelu"/> is set, <paramref name="output"/>
    /// is the layer's output y (after the ReLU) and dy is first masked by it (<see cref="ReluBackwardReference"/>);
    /// otherwise it is not read. <paramref name="dBias"/> is not written (may be empty) when the conv has no bias.
    /// </summary>
    public static void Backward(ReadOnlySpan<float> input, TensorShape inShape, ReadOnlySpan<float> weight, Conv2dParams p,
        int outChannels, ReadOnlySpan<float> output, ReadOnlySpan<float> dOutput, Span<float> dInput, Span<float> dWeight,
        Span<float> dBias)
    {
        var outShape = CheckLengths(inShape, p, outChannels, input.Length, weight.Length, dOutput.Length);
        ReadOnlySpan<float> g = dOutput;
        if (p.FuseRelu)
        {
            if (output.Length != outShape.Count)
                throw new ArgumentException($"conv2d backward: the fused ReLU needs the output y ({outShape.Count} floats), got {output.Length}");
            var masked = new float[outShape.Count];
            ReluBackwardReference.Backward(output, dOutput, masked);
            g = masked;
        }
        InputGradient(g, inShape, weight, p, outChannels, dInput);
        WeightGradient(input, inShape, g, p, outChannels, dWeight);
        if (p.HasBias) BiasGradient(g, outShape, dBias);
    }

    /// <summary>dx from the pre-activation gradient <paramref name="dOutput"/> (the ReLU flag of <paramref name="p"/> is ignored).</summary>
    public static void InputGradient(ReadOnlySpan<float> dOutput, TensorShape inShape, ReadOnlySpan<float> weight, Conv2dParams p,
        int outChannels, Span<float> dInput)
    {
        CheckLengths(inShape, p, outChannels, inShape.Count, weight.Length, dOutput.Length);
        if (dInput.Length != inShape.Count)
            throw new ArgumentException($"conv2d backward: dx has {dInput.Length} floats, input {inShape} needs {inShape.Count}");
        for (int n = 0; n < inShape.N; n++)
            for (int c = 0; c < inShape.C; c++)
                InputGradientPlane(dOutput, inShape, weight, p, outChannels, n, c, dInput);
    }

    /// <summary>
    /// The single dx plane (n, c). Planes are independent, so callers may compute them in parallel (the tests do at
    /// SSD's layer sizes). Lengths are not re-checked: call through <see cref="InputGradient"/> or check first.
    /// </summary>
    public static void InputGradientPlane(ReadOnlySpan<float> dOutput, TensorShape inShape, ReadOnlySpan<float> weight, Conv2dParams p,
        int outChannels, int n, int c, Span<float> dInput)
    {
        var outShape = p.OutputShape(inShape, outChannels);
        int cg = inShape.C / p.Groups, og = outChannels / p.Groups;
        int group = c / cg, ci = c - group * cg;
        var acc = new double[inShape.PlaneSize];
        for (int o = group * og; o < (group + 1) * og; o++)
        {
            long gPlane = outShape.Offset(n, o, 0, 0);
            for (int ky = 0; ky < p.KernelH; ky++)
                for (int kx = 0; kx < p.KernelW; kx++)
                {
                    double w = weight[((o * cg + ci) * p.KernelH + ky) * p.KernelW + kx];
                    for (int oy = 0; oy < outShape.H; oy++)
                    {
                        int iy = oy * p.StrideH - p.PadH + ky * p.DilationH;
                        if (iy < 0 || iy >= inShape.H) continue;
                        for (int ox = 0; ox < outShape.W; ox++)
                        {
                            int ix = ox * p.StrideW - p.PadW + kx * p.DilationW;
                            if (ix < 0 || ix >= inShape.W) continue;
                            acc[iy * inShape.W + ix] += w * dOutput[(int)(gPlane + oy * outShape.W + ox)];
                        }
                    }
                }
        }
        long dst = inShape.Offset(n, c, 0, 0);
        for (int i = 0; i < acc.Length; i++) dInput[(int)(dst + i)] = (float)acc[i];
    }

    /// <summary>dw (OIHW, overwritten) from the pre-activation gradient <paramref name="dOutput"/>.</summary>
    public static void WeightGradient(ReadOnlySpan<float> input, TensorShape inShape, ReadOnlySpan<float> dOutput, Conv2dParams p,
        int outChannels, Span<float> dWeight)
    {
        long wc = p.WeightCount(inShape.C, outChannels);
        CheckLengths(inShape, p, outChannels, input.Length, wc, dOutput.Length);
        if (dWeight.Length != wc) throw new ArgumentException($"conv2d backward: dw has {dWeight.Length} floats, the weights have {wc}");
        for (int o = 0; o < outChannels; o++) WeightGradientRow(input, inShape, dOutput, p, outChannels, o, dWeight);
    }

    /// <summary>The dw row of output channel <paramref name="o"/> ([inC/groups, kH, kW]); rows are independent.</summary>
    public static void WeightGradientRow(ReadOnlySpan<float> input, TensorShape inShape, ReadOnlySpan<float> dOutput, Conv2dParams p,
        int outChannels, int o, Span<float> dWeight)
    {
        var outShape = p.OutputShape(inShape, outChannels);
        int cg = inShape.C / p.Groups, og = outChannels / p.Groups;
        int firstInput = o / og * cg;
        for (int c = 0; c < cg; c++)
            for (int ky = 0; ky < p.KernelH; ky++)
                for (int kx = 0; kx < p.KernelW; kx++)
                {
                    double acc = 0;
                    for (int n = 0; n < inShape.N; n++)
                    {
                        long xPlane = inShape.Offset(n, firstInput + c, 0, 0);
                        long gPlane = outShape.Offset(n, o, 0, 0);
                        for (int oy = 0; oy < outShape.H; oy++)
                        {
                            int iy = oy * p.StrideH - p.PadH + ky * p.DilationH;
                            if (iy < 0 || iy >= inShape.H) continue;
                            for (int ox = 0; ox < outShape.W; ox++)
                            {
                                int ix = ox * p.StrideW - p.PadW + kx * p.DilationW;
                                if (ix < 0 || ix >= inShape.W) continue;
                                acc += (double)dOutput[(int)(gPlane + oy * outShape.W + ox)] * input[(int)(xPlane + (long)iy * inShape.W + ix)];
                            }
                        }
                    }
                    dWeight[((o * cg + c) * p.KernelH + ky) * p.KernelW + kx] = (float)acc;
                }
    }

    /// <summary>db[o] = the sum of <paramref name="dOutput"/> over images and pixels of channel o.</summary>
    public static void BiasGradient(ReadOnlySpan<float> dOutput, TensorShape outShape, Span<float> dBias)
    {
        if (dOutput.Length != outShape.Count)
            throw new ArgumentException($"conv2d backward: dy has {dOutput.Length} floats, output {outShape} needs {outShape.Count}");
        if (dBias.Length != outShape.C)
            throw new ArgumentException($"conv2d backward: db has {dBias.Length} floats, expected one per output channel ({outShape.C})");
        for (int o = 0; o < outShape.C; o++)
        {
            double acc = 0;
            for (int n = 0; n < outShape.N; n++)
            {
                long plane = outShape.Offset(n, o, 0, 0);
                for (int i = 0; i < outShape.PlaneSize; i++) acc += dOutput[(int)(plane + i)];
            }
            dBias[o] = (float)acc;
        }
    }

    /// <summary>Checks the forward's shapes plus dy's length; returns the output shape.</summary>
    internal static TensorShape CheckLengths(TensorShape inShape, Conv2dParams p, int outChannels, long inputLength, long weightLength, long dOutputLength)
    {
        var outShape = p.OutputShape(inShape, outChannels);
        if (inputLength != inShape.Count)
            throw new ArgumentException($"conv2d backward: input has {inputLength} floats, shape {inShape} needs {inShape.Count}");
        long wc = p.WeightCount(inShape.C, outChannels);
        if (weightLength != wc)
            throw new ArgumentException(
                $"conv2d backward: weight has {weightLength} floats, OIHW [{outChannels}, {inShape.C / p.Groups}, {p.KernelH}, {p.KernelW}] needs {wc}");
        if (dOutputLength != outShape.Count)
            throw new ArgumentException($"conv2d backward: dy has {dOutputLength} floats, output {outShape} needs {outShape.Count}");
        return outShape;
    }
}
