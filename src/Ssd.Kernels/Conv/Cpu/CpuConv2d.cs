using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Conv;

/// <summary>
/// One convolution layer on the managed CPU backend. Created once per layer: the weights are validated and packed
/// (or Winograd-transformed) at construction, and the algorithm and ISA level are chosen then. <see cref="Forward"/>
/// allocates no buffers: it uses per-worker scratch owned by the layer.
/// Thread-safety: a layer object may be used by one caller at a time (its scratch is shared between calls); it
/// parallelises each call internally over <see cref="Threads"/> workers. Use one object per concurrent caller.
/// </summary>
internal sealed class CpuConv2d
{
    private readonly GemmConv? _gemm;
    private readonly WinogradConv? _winograd;
    private readonly Winograd4x4Conv? _winograd4;
    private readonly DepthwiseConv? _depthwise;
    private readonly GemmConv? _centre;
    private readonly (int Ky, int Kx) _centreTap;
    private readonly int _nr;

    public Conv2dParams Params { get; }
    public int InChannels { get; }
    public int OutChannels { get; }
    public CpuIsa Isa { get; }
    /// <summary>The algorithm chosen at load; Auto (no planned input size given) means both GEMM and Winograd F(4x4) are packed and <see cref="AlgorithmFor"/> picks per input size.</summary>
    public CpuConvAlgorithm Algorithm { get; }
    public int Threads { get; }

    /// <remarks><paramref name="weights"/>: OIHW [outC, inC/groups, kH, kW].</remarks>
    /// <remarks><paramref name="bias"/>: [outC] when <see cref="Conv2dParams.HasBias"/>, else ignored (may be empty).</remarks>
    public CpuConv2d(Conv2dParams p, int inChannels, int outChannels, ReadOnlySpan<float> weights, ReadOnlySpan<float> bias,
        CpuConvOptions? options = null)
    {
        options ??= CpuConvOptions.Default;
        p.Validate();
        if (inChannels <= 0 || outChannels <= 0)
            throw new ArgumentException($"cpu conv: channels {inChannels} -> {outChannels} must be positive");
        if (inChannels % p.Groups != 0 || outChannels % p.Groups != 0)
            throw new ArgumentException($"cpu conv: channels {inChannels} -> {outChannels} are not divisible by groups {p.Groups}");
        long wc = p.WeightCount(inChannels, outChannels);
        if (weights.Length != wc)
            throw new ArgumentException(
                $"cpu conv: weight has {weights.Length} elements, OIHW [{outChannels}, {inChannels / p.Groups}, {p.KernelH}, {p.KernelW}] needs {wc}");
        if (p.HasBias && bias.Length != outChannels)
            throw new ArgumentException($"cpu conv: bias has {bias.Length} elements, expected one per output channel ({outChannels})");
        if (options.Threads is <= 0)
            throw new ArgumentException($"cpu conv: thread count {options.Threads} must be positive");

        (Params, InChannels, OutChannels) = (p, inChannels, outChannels);
        Isa = options.Isa is { } forced ? CpuIsaSupport.Require(forced) : CpuIsaSupport.Best;
        Threads = options.Threads ?? Environment.ProcessorCount;
        // A network planned for one input size knows it now: pack only the algorithm that size runs.
        Algorithm = PlannedAlgorithm(p, inChannels, outChannels, options);
        var mk = MicroKernel.For(Isa);
        _nr = mk.NR;
        if (Algorithm is CpuConvAlgorithm.Winograd)
            _winograd = new WinogradConv(p, inChannels, outChannels, weights, bias, mk, Threads);
        if (Algorithm is CpuConvAlgorithm.Winograd4x4 or CpuConvAlgorithm.Auto)
            _winograd4 = new Winograd4x4Conv(p, inChannels, outChannels, weights, bias, mk, Threads);
        if (Algorithm is CpuConvAlgorithm.Direct)
            _depthwise = new DepthwiseConv(p, inChannels, outChannels, weights, bias, Threads, Isa);
        if (Algorithm is CpuConvAlgorithm.Gemm or CpuConvAlgorithm.Auto)
            _gemm = new GemmConv(p, inChannels, outChannels, weights, bias, mk, Threads);
        // Planned for a 1x1 map (SSD's last heads): one tap sees the pixel, the others read padding, so the conv is
        // the 1x1 conv of that tap's weights: a ninth of the multiplies and of the weights read, the same sums.
        if (Algorithm is CpuConvAlgorithm.Gemm && options.PlannedInput is { H: 1, W: 1 } one && p.KernelH * p.KernelW > 1 && OnlyTap(p, one, outChannels) is { } tap)
            (_centreTap, _centre) = (tap, new GemmConv(new Conv2dParams(1, 1, Groups: p.Groups, HasBias: p.HasBias, FuseRelu: p.FuseRelu), inChannels, outChannels,
                TapWeights(weights, outChannels * (inChannels / p.Groups), p, tap.Ky, tap.Kx), bias, mk, Threads));
    }

    /// <summary>
    /// New weights and bias (the shapes the layer was made with) packed into the layer's own buffers, so a training
    /// step's refresh allocates nothing: what a layer made with them computes, bit for bit. False for the algorithms
    /// that do not refill in place (F(2x2) Winograd, depthwise): make a new layer for those.
    /// </summary>
    public bool TryRefresh(ReadOnlySpan<float> weights, ReadOnlySpan<float> bias)
    {
        if (_winograd is not null || _depthwise is not null) return false;
        if (weights.Length != Params.WeightCount(InChannels, OutChannels) || (Params.HasBias && bias.Length != OutChannels))
            throw new ArgumentException($"cpu conv: new weights of {weights.Length} floats and bias of {bias.Length} do not fit the layer");
        _gemm?.Refresh(weights, bias);
        _winograd4?.Refresh(weights, bias);
        _centre?.Refresh(TapWeights(weights, OutChannels * (InChannels / Params.Groups), Params, _centreTap.Ky, _centreTap.Kx), bias);
        return true;
    }

    /// <summary>
    /// The one filter tap (ky, kx) that reads the pixel of a 1x1 input whose output is 1x1 (every other tap falls in
    /// the padding); null when the output is larger or no tap reads it.
    /// </summary>
    internal static (int Ky, int Kx)? OnlyTap(Conv2dParams p, TensorShape xs, int outChannels)
    {
        if (xs.H != 1 || xs.W != 1 || xs.C % p.Groups != 0 || outChannels % p.Groups != 0) return null;
        // One output pixel: 0 <= 1 + 2 pad - dilated kernel < stride on both axes.
        int h = 1 + 2 * p.PadH - p.EffectiveKernelH, w = 1 + 2 * p.PadW - p.EffectiveKernelW;
        if (h < 0 || h >= p.StrideH || w < 0 || w >= p.StrideW) return null;
        // Output pixel 0 reads input row ky*dilation - pad: the tap with ky*dilation == pad, if there is one.
        if (p.PadH % p.DilationH != 0 || p.PadW % p.DilationW != 0) return null;
        int ky = p.PadH / p.DilationH, kx = p.PadW / p.DilationW;
        return ky < p.KernelH && kx < p.KernelW ? (ky, kx) : null;
    }

    /// <summary>The OIHW weights of tap (ky, kx) alone: [filters, 1, 1] for the filters' (out, in) channel pairs.</summary>
    private static float[] TapWeights(ReadOnlySpan<float> weights, int filters, Conv2dParams p, int ky, int kx)
    {
        var tap = new float[filters];
        for (int f = 0; f < filters; f++) tap[f] = weights[(f * p.KernelH + ky) * p.KernelW + kx];
        return tap;
    }

    public static bool IsWinogradEligible(Conv2dParams p) =>
        p is { KernelH: 3, KernelW: 3, StrideH: 1, StrideW: 1, DilationH: 1, DilationW: 1, Groups: 1 };

    public static bool IsDepthwise(Conv2dParams p, int inChannels) => p.Groups > 1 && p.Groups == inChannels;

    private static CpuConvAlgorithm Choose(Conv2dParams p, int inC, int outC, CpuConvAlgorithm requested)
    {
        switch (requested)
        {
            case CpuConvAlgorithm.Gemm: return requested;
            case CpuConvAlgorithm.Winograd or CpuConvAlgorithm.Winograd4x4 when !IsWinogradEligible(p):
                throw new ArgumentException($"cpu conv: Winograd needs a 3x3, stride-1, dilation-1, ungrouped conv, got {p}");
            case CpuConvAlgorithm.Direct when !IsDepthwise(p, inC):
                throw new ArgumentException($"cpu conv: the direct algorithm is for depthwise convs only (groups == inC), got groups {p.Groups} with {inC} input channels");
            case CpuConvAlgorithm.Winograd or CpuConvAlgorithm.Winograd4x4 or CpuConvAlgorithm.Direct: return requested;
        }
        if (IsDepthwise(p, inC)) return CpuConvAlgorithm.Direct;
        // Winograd's transforms cost O(inC + outC) per tile against O(inC*outC) multiplies saved: it can only win once
        // both are wide. Whether it does also depends on the image size (see AlgorithmFor), so such a layer keeps both
        // F(4x4) and GEMM. F(2x2) is not used by Auto: F(4x4) beat it on every SSD300 layer (bench/results/cpu-conv.md).
        if (IsWinogradEligible(p) && inC >= MinWinogradChannels && outC >= MinWinogradOutChannels) return CpuConvAlgorithm.Auto;
        return CpuConvAlgorithm.Gemm;
    }

    /// <summary>Auto uses Winograd only for layers with at least this many input channels (SSD300's conv1_1 has 3).</summary>
    public const int MinWinogradChannels = 32;

    /// <summary>
    /// ... and at least this many output channels. SSD's box-regression heads (16 or 24 outputs over 512-1024 input
    /// channels) still win with F(4x4): their im2col for GEMM is as large as the classification head's, for a
    /// twentieth of the multiplies (measured on SSD300: 38x38 head 4.9-6.4 ms -> 2.3-3.6 ms, 19x19 3.2-3.9 -> 1.7-2.5 ms).
    /// </summary>
    public const int MinWinogradOutChannels = 16;

    /// <summary>
    /// The algorithm <see cref="Forward"/> uses for input <paramref name="xs"/>. An Auto layer (3x3 stride-1, wide
    /// channels) runs Winograd F(4x4) when its padded GEMM work is smaller: per (in, out) channel pair, F(4x4) costs
    /// 36 multiplies per 4x4 tile and GEMM 9 per pixel, both rounded up to whole micro-kernel panels of NR columns
    /// (a 3x3 map is one tile in a 48-wide panel: GEMM wins; a 19x19 map is 25 tiles, half a panel: F(4x4) still does
    /// half GEMM's work). The 1.25 charges F(4x4)'s transforms; measured on SSD300 it wins from 19x19 up.
    /// </summary>
    public CpuConvAlgorithm AlgorithmFor(TensorShape xs) =>
        Algorithm != CpuConvAlgorithm.Auto ? Algorithm : AutoAlgorithm(xs, OutputShape(xs), _nr);

    /// <summary>
    /// The algorithm a layer made with <paramref name="options"/> runs on its planned input (what <see cref="AlgorithmFor"/>
    /// picks there; Auto when no input is planned), without packing any weights: for a caller that wants the layer only
    /// if it runs Winograd.
    /// </summary>
    public static CpuConvAlgorithm PlannedAlgorithm(Conv2dParams p, int inChannels, int outChannels, CpuConvOptions options)
    {
        var algorithm = Choose(p, inChannels, outChannels, options.Algorithm);
        if (algorithm is not CpuConvAlgorithm.Auto || options.PlannedInput is not { } xs) return algorithm;
        if (xs.C != inChannels) throw new ArgumentException($"cpu conv: input {xs} has {xs.C} channels, the layer expects {inChannels}");
        var isa = options.Isa is { } forced ? CpuIsaSupport.Require(forced) : CpuIsaSupport.Best;
        return AutoAlgorithm(xs, p.OutputShape(xs, outChannels), MicroKernel.For(isa).NR);
    }

    private static CpuConvAlgorithm AutoAlgorithm(TensorShape xs, TensorShape ys, int nr)
    {
        var (tw, th) = Winograd4x4Conv.TileGrid(ys);
        long RoundUp(long v) => (v + nr - 1) / nr * nr;
        double winograd = 1.25 * 36 * xs.N * RoundUp((long)tw * th);
        double gemm = 9.0 * xs.N * RoundUp((long)ys.H * ys.W);
        return winograd < gemm ? CpuConvAlgorithm.Winograd4x4 : CpuConvAlgorithm.Gemm;
    }

    /// <summary>Output shape for input <paramref name="xs"/>; throws when the input does not fit this layer.</summary>
    public TensorShape OutputShape(TensorShape xs)
    {
        if (xs.C != InChannels)
            throw new ArgumentException($"cpu conv: input {xs} has {xs.C} channels, the layer expects {InChannels}");
        return Params.OutputShape(xs, OutChannels);
    }

    /// <summary>y = conv(x) (+bias, ReLU) for a batch of NCHW images.</summary>
    public void Forward(ReadOnlySpan<float> x, TensorShape xs, Span<float> y)
    {
        var ys = OutputShape(xs);
        if (x.Length != xs.Count) throw new ArgumentException($"cpu conv: input has {x.Length} elements, shape {xs} needs {xs.Count}");
        if (y.Length != ys.Count) throw new ArgumentException($"cpu conv: output has {y.Length} elements, shape {ys} needs {ys.Count}");
        if (_centre is not null && xs.H == 1 && xs.W == 1)
        {
            _centre.Forward(x, xs, y, ys);
            return;
        }
        switch (AlgorithmFor(xs))
        {
            case CpuConvAlgorithm.Winograd: _winograd!.Forward(x, xs, y, ys); break;
            case CpuConvAlgorithm.Winograd4x4: _winograd4!.Forward(x, xs, y, ys); break;
            case CpuConvAlgorithm.Direct: _depthwise!.Forward(x, xs, y, ys); break;
            default: _gemm!.Forward(x, xs, y, ys); break;
        }
    }
}
