using Ssd.Kernels.Core;

namespace Ssd.Kernels.Conv;

/// <summary>
/// The hyper-parameters of one 2D convolution (Caffe/PyTorch semantics): NCHW input, OIHW weights
/// [outC, inC/groups, kH, kW], optional bias [outC], optional ReLU fused after the bias.
/// </summary>
public readonly record struct Conv2dParams(
    int KernelH, int KernelW,
    int StrideH = 1, int StrideW = 1,
    int PadH = 0, int PadW = 0,
    int DilationH = 1, int DilationW = 1,
    int Groups = 1,
    bool HasBias = true,
    bool FuseRelu = false)
{
    /// <summary>A square kernel with the same stride, padding and dilation on both axes.</summary>
    public static Conv2dParams Square(int kernel, int stride = 1, int pad = 0, int dilation = 1, int groups = 1, bool hasBias = true, bool fuseRelu = false) =>
        new(kernel, kernel, stride, stride, pad, pad, dilation, dilation, groups, hasBias, fuseRelu);

    /// <summary>Extent of the dilated kernel along H: dilation*(k-1)+1.</summary>
    public int EffectiveKernelH => DilationH * (KernelH - 1) + 1;
    /// <summary>Extent of the dilated kernel along W: dilation*(k-1)+1.</summary>
    public int EffectiveKernelW => DilationW * (KernelW - 1) + 1;

    /// <summary>Throws when the parameters themselves are impossible (independent of any tensor).</summary>
    public void Validate()
    {
        if (KernelH <= 0 || KernelW <= 0) throw new ArgumentException($"conv2d: kernel size {KernelH}x{KernelW} must be positive");
        if (StrideH <= 0 || StrideW <= 0) throw new ArgumentException($"conv2d: stride {StrideH}x{StrideW} must be positive");
        if (PadH < 0 || PadW < 0) throw new ArgumentException($"conv2d: padding {PadH}x{PadW} must not be negative");
        if (DilationH <= 0 || DilationW <= 0) throw new ArgumentException($"conv2d: dilation {DilationH}x{DilationW} must be positive");
        if (Groups <= 0) throw new ArgumentException($"conv2d: groups {Groups} must be positive");
    }

    /// <summary>
    /// The output shape for <paramref name="input"/>: H_out = floor((H + 2*pad - dilation*(k-1) - 1) / stride) + 1.
    /// Throws when channels do not divide into the groups or the output would be empty.
    /// </summary>
    public TensorShape OutputShape(TensorShape input, int outChannels)
    {
        Validate();
        if (input.N <= 0 || input.C <= 0 || input.H <= 0 || input.W <= 0)
            throw new ArgumentException($"conv2d: input shape {input} has a non-positive dimension");
        if (outChannels <= 0) throw new ArgumentException($"conv2d: output channels {outChannels} must be positive");
        if (input.C % Groups != 0)
            throw new ArgumentException($"conv2d: input channels {input.C} are not divisible by groups {Groups}");
        if (outChannels % Groups != 0)
            throw new ArgumentException($"conv2d: output channels {outChannels} are not divisible by groups {Groups}");
        long oh = (input.H + 2L * PadH - EffectiveKernelH) / StrideH + 1;
        long ow = (input.W + 2L * PadW - EffectiveKernelW) / StrideW + 1;
        if (input.H + 2L * PadH < EffectiveKernelH || input.W + 2L * PadW < EffectiveKernelW || oh <= 0 || ow <= 0)
            throw new ArgumentException(
                $"conv2d: input {input.H}x{input.W} with padding {PadH}x{PadW} is smaller than the dilated kernel {EffectiveKernelH}x{EffectiveKernelW}: non-positive output");
        if ((long)input.N * outChannels * oh * ow > int.MaxValue)
            throw new ArgumentException($"conv2d: output {input.N}x{outChannels}x{oh}x{ow} has more than 2^31 elements");
        return new TensorShape(input.N, outChannels, (int)oh, (int)ow);
    }

    /// <summary>Number of weights: outC * (inC/groups) * kH * kW.</summary>
    public long WeightCount(int inChannels, int outChannels) => (long)outChannels * (inChannels / Groups) * KernelH * KernelW;

    /// <summary>
    /// Checks every tensor length against the shapes (what the op and the reference both demand) and returns the output shape.
    /// </summary>
    public TensorShape CheckLengths(TensorShape input, int outChannels, long inputLength, long weightLength, long biasLength, long outputLength)
    {
        var output = OutputShape(input, outChannels);
        if (inputLength != input.Count)
            throw new ArgumentException($"conv2d: input has {inputLength} elements, shape {input} needs {input.Count}");
        long wc = WeightCount(input.C, outChannels);
        if (weightLength != wc)
            throw new ArgumentException(
                $"conv2d: weight has {weightLength} elements, OIHW [{outChannels}, {input.C / Groups}, {KernelH}, {KernelW}] needs {wc}");
        if (HasBias && biasLength != outChannels)
            throw new ArgumentException($"conv2d: bias has {biasLength} elements, expected one per output channel ({outChannels})");
        if (outputLength != output.Count)
            throw new ArgumentException($"conv2d: output has {outputLength} elements, shape {output} needs {output.Count}");
        return output;
    }

    /// <summary>Multiply-adds times two: the FLOP count used for GFLOP/s figures.</summary>
    public double Flops(TensorShape input, int outChannels)
    {
        var o = OutputShape(input, outChannels);
        return 2.0 * o.Count * (input.C / Groups) * KernelH * KernelW;
    }
}
