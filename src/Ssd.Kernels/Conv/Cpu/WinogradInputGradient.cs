using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Conv;

/// <summary>
/// dx of a 3x3, stride-1, dilation-1, ungrouped convolution with padding p &lt;= 2 (per axis) as a forward convolution
/// of the pre-activation gradient g: dx[c][iy][ix] = sum over o, ky, kx of g[o][iy + p - ky][ix + p - kx] W[o][c][ky][kx]
/// is the correlation of g with W'[c][o][ky][kx] = W[o][c][2 - ky][2 - kx] (input and output channels swapped, the
/// kernel turned 180 degrees) at padding 2 - p, without bias or ReLU. That convolution is Winograd-eligible, so it runs
/// on <see cref="CpuConv2d"/> (F(4x4): a quarter of the direct dx's multiplies) where <see cref="CpuConv2d.AlgorithmFor"/>
/// picks Winograd for g's shape, exactly as a forward layer of that shape would; elsewhere <see cref="For"/> gives null
/// and the caller keeps <see cref="Conv2dBackwardSimd"/>'s direct dx. The transformed W' is packed at construction and
/// again, in place, by <see cref="Refresh"/> (a training step's new weights).
/// Thread-safety: as <see cref="CpuConv2d"/>'s: one caller at a time.
/// </summary>
internal sealed class WinogradInputGradient
{
    private readonly CpuConv2d _conv;
    // W' of the layer being packed: shared by every layer refreshed on the calling thread (the largest one's size).
    [ThreadStatic] private static float[]? s_flipped;

    /// <summary>The forward layer's parameters.</summary>
    public Conv2dParams Params { get; }
    /// <summary>The forward layer's input channels (dx's).</summary>
    public int InChannels { get; }
    /// <summary>The forward layer's output channels (g's).</summary>
    public int OutChannels { get; }
    /// <summary>g's shape, the forward's output: the only one <see cref="Run"/> takes.</summary>
    public TensorShape GradientShape { get; }

    private WinogradInputGradient(Conv2dParams p, int inChannels, int outChannels, TensorShape gradientShape, ReadOnlySpan<float> weight,
        CpuConvOptions options)
    {
        (Params, InChannels, OutChannels, GradientShape) = (p, inChannels, outChannels, gradientShape);
        _conv = new CpuConv2d(Transposed(p), outChannels, inChannels, Flip(weight), [], options);
    }

    /// <summary>Whether dx of a layer with <paramref name="p"/> is a Winograd-eligible forward convolution.</summary>
    public static bool Applies(Conv2dParams p) => CpuConv2d.IsWinogradEligible(p) && p.PadH <= 2 && p.PadW <= 2;

    /// <summary>The forward convolution that computes dx: 3x3, stride 1, padding 2 - p, no bias, no ReLU.</summary>
    public static Conv2dParams Transposed(Conv2dParams p) => new(3, 3, PadH: 2 - p.PadH, PadW: 2 - p.PadW, HasBias: false);

    /// <summary>
    /// dx by Winograd F(4x4) for the layer (<paramref name="weight"/>: its OIHW weights) on input <paramref name="inShape"/>,
    /// or null where that does not apply or <see cref="CpuConv2d.AlgorithmFor"/> picks GEMM for g's shape
    /// (<paramref name="force"/>: F(4x4) wherever it applies, for tests).
    /// </summary>
    public static WinogradInputGradient? For(Conv2dParams p, int inChannels, int outChannels, TensorShape inShape, ReadOnlySpan<float> weight,
        CpuOpOptions options, bool force = false)
    {
        if (!Applies(p)) return null;
        var gradientShape = p.OutputShape(inShape, outChannels);
        var conv = new CpuConvOptions(options.ResolvedIsa, force ? CpuConvAlgorithm.Winograd4x4 : CpuConvAlgorithm.Auto, options.ResolvedThreads,
            PlannedInput: gradientShape);
        if (CpuConv2d.PlannedAlgorithm(Transposed(p), outChannels, inChannels, conv) is not CpuConvAlgorithm.Winograd4x4) return null;
        return new WinogradInputGradient(p, inChannels, outChannels, gradientShape, weight, conv);
    }

    /// <summary>The layer's new weights, flipped and packed in place: what a fresh object made with them computes, bit for bit.</summary>
    public void Refresh(ReadOnlySpan<float> weight)
    {
        if (!_conv.TryRefresh(Flip(weight), []))
            throw new InvalidOperationException($"winograd dx: the {_conv.Algorithm} convolution does not refresh in place");
    }

    /// <summary>dx (overwritten) from the pre-activation gradient <paramref name="g"/> of shape <see cref="GradientShape"/>.</summary>
    public void Run(ReadOnlySpan<float> g, Span<float> dx) => _conv.Forward(g, GradientShape, dx);

    /// <summary>W' = the weights with channels swapped and taps reversed, in the thread's reused buffer.</summary>
    private ReadOnlySpan<float> Flip(ReadOnlySpan<float> weight)
    {
        long count = Params.WeightCount(InChannels, OutChannels);
        if (weight.Length != count)
            throw new ArgumentException($"winograd dx: weight has {weight.Length} elements, OIHW [{OutChannels}, {InChannels}, 3, 3] needs {count}");
        if (s_flipped is null || s_flipped.Length < count) s_flipped = GC.AllocateUninitializedArray<float>((int)count);
        var flipped = s_flipped.AsSpan(0, (int)count);
        for (int o = 0; o < OutChannels; o++)
            for (int c = 0; c < InChannels; c++)
            {
                var src = weight.Slice((o * InChannels + c) * 9, 9);
                var dst = flipped.Slice((c * OutChannels + o) * 9, 9);
                for (int t = 0; t < 9; t++) dst[t] = src[8 - t];
            }
        return flipped;
    }
}
