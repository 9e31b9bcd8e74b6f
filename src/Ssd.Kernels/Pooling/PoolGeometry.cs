using Ssd.Kernels.Core;

namespace Ssd.Kernels.Pooling;

/// <summary>
/// Everything a pooling kernel needs, as a struct of ints so it can be a kernel parameter.
/// Build it with <see cref="Create"/> or <see cref="Global"/>, which validate the shape.
/// </summary>
public readonly record struct PoolGeometry(
    int N, int C, int H, int W, int OutH, int OutW,
    int KernelH, int KernelW, int StrideH, int StrideW, int PadH, int PadW)
{
    /// <summary>The input shape.</summary>
    public TensorShape Input => new(N, C, H, W);
    /// <summary>The output shape.</summary>
    public TensorShape Output => new(N, C, OutH, OutW);

    /// <summary>Square kernel, stride and padding (every pooling layer in SSD).</summary>
    public static PoolGeometry Create(TensorShape input, int kernel, int stride, int pad, PoolOutputRule rule) =>
        Create(input, kernel, kernel, stride, stride, pad, pad, rule);

    /// <summary>A pooling window of any shape; the output size follows <paramref name="rule"/>.</summary>
    /// <param name="input">The input shape.</param>
    /// <param name="kernelH">The window height.</param>
    /// <param name="kernelW">The window width.</param>
    /// <param name="strideH">The vertical stride.</param>
    /// <param name="strideW">The horizontal stride.</param>
    /// <param name="padH">Padding rows above and below.</param>
    /// <param name="padW">Padding columns left and right.</param>
    /// <param name="rule">Caffe's or torch's output size rule.</param>
    /// <exception cref="ArgumentException">The shape has a non-positive dimension, the window, stride or padding is impossible, or the last window starts outside the input.</exception>
    public static PoolGeometry Create(TensorShape input, int kernelH, int kernelW, int strideH, int strideW,
        int padH, int padW, PoolOutputRule rule)
    {
        TensorShape.Checked(input.N, input.C, input.H, input.W);
        int outH = PoolOutputSize.Compute(rule, input.H, kernelH, strideH, padH);
        int outW = PoolOutputSize.Compute(rule, input.W, kernelW, strideW, padW);
        // Caffe's rule with pad 0 keeps a last window that may start past the input when kernel < stride;
        // that window would be empty (max of nothing), so refuse the shape rather than invent a value.
        if ((outH - 1) * strideH - padH >= input.H || (outW - 1) * strideW - padW >= input.W)
            throw new ArgumentException($"pooling: with kernel {kernelH}x{kernelW}, stride {strideH}x{strideW}, pad {padH}x{padW} " +
                $"and rule {rule}, the last window on {input} starts outside the input");
        return new PoolGeometry(input.N, input.C, input.H, input.W, outH, outW, kernelH, kernelW, strideH, strideW, padH, padW);
    }

    /// <summary>Global pooling: one window covering the whole plane, output 1x1.</summary>
    public static PoolGeometry Global(TensorShape input)
    {
        TensorShape.Checked(input.N, input.C, input.H, input.W);
        return new PoolGeometry(input.N, input.C, input.H, input.W, 1, 1, input.H, input.W, 1, 1, 0, 0);
    }
}
