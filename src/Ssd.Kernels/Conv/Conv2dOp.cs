using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Conv;

/// <summary>Which conv2d kernel runs.</summary>
internal enum Conv2dVariant
{
    /// <summary>Let <see cref="Conv2dOp"/> choose (see <see cref="Conv2dOp.Choose"/>).</summary>
    Auto = 0,
    /// <summary><see cref="Conv2dKernels.Conv2d1"/>: one thread per output, every case.</summary>
    Naive = 1,
    /// <summary><see cref="Conv2dKernels.Conv2d2"/>: tiled implicit GEMM, groups == 1.</summary>
    Tiled = 2,
    /// <summary><see cref="Conv2dKernels.Conv2d3"/>: tiled, 1x1 kernel, stride 1, no padding, groups == 1.</summary>
    Pointwise = 3,
    /// <summary><see cref="Conv2dGemmKernels.Conv2d4"/>: register-tiled implicit GEMM (128x128x8, 8x8 per thread), any conv.</summary>
    Gemm = 4,
    /// <summary><see cref="Conv2dWinogradKernels"/>: Winograd F(2x2, 3x3), 3x3 stride 1 dilation 1, one group.</summary>
    Winograd = 5,
    /// <summary><see cref="Conv2dGemmKernels.Conv2d6"/>: TF32 tensor cores (inline PTX mma), CUDA sm_80+, an opt-in.</summary>
    Tf32 = 6,
    /// <summary><see cref="Conv2dGemmKernels.Conv2d7"/>: version 6 with the mma emulated (same tiling and TF32 rounding), any device.</summary>
    Tf32Emulated = 7,
}

/// <summary>Launches a 2D convolution on a device; the kernels are loaded once per device.</summary>
internal sealed class Conv2dOp(ComputeDevice device)
{
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dGeometry> naive =
        device.Kernel("conv2d.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dGeometry>(
            Conv2dKernels.Conv2d1));

    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dGeometry> Tiled =>
        device.Kernel("conv2d.2", a => a.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dGeometry>(
            Conv2dKernels.Conv2d2));

    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dGeometry> Pointwise =>
        device.Kernel("conv2d.3", a => a.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dGeometry>(
            Conv2dKernels.Conv2d3));

    /// <summary>True when the 1x1 specialisation applies: 1x1 kernel, stride 1, no padding, one group.</summary>
    public static bool IsPointwise(Conv2dParams p) =>
        p.KernelH == 1 && p.KernelW == 1 && p.StrideH == 1 && p.StrideW == 1 && p.PadH == 0 && p.PadW == 0 && p.Groups == 1;

    /// <summary>
    /// The variant <see cref="Conv2dVariant.Auto"/> runs: the naive kernel for grouped/depthwise convolutions (the
    /// tiled ones need groups == 1) and on the CPU simulator (where each group barrier costs milliseconds); otherwise
    /// the 1x1 specialisation when it applies, else the tiled implicit GEMM.
    /// </summary>
    public static Conv2dVariant Choose(Conv2dParams p, BackendKind backend) =>
        p.Groups != 1 || backend == BackendKind.CpuSim ? Conv2dVariant.Naive
        : IsPointwise(p) ? Conv2dVariant.Pointwise
        : Conv2dVariant.Tiled;

    /// <summary>
    /// y = conv2d(x, weight) + bias, then ReLU when <see cref="Conv2dParams.FuseRelu"/>. <paramref name="bias"/> is
    /// ignored (may be default) when <see cref="Conv2dParams.HasBias"/> is false. Output must not alias the input.
    /// </summary>
    public void Forward(ArrayView<float> input, TensorShape inShape, ArrayView<float> weight, ArrayView<float> bias,
        Conv2dParams p, int outChannels, ArrayView<float> output, Conv2dVariant variant = Conv2dVariant.Auto, AcceleratorStream? stream = null)
    {
        var outShape = p.CheckLengths(inShape, outChannels, input.Length, weight.Length, p.HasBias ? bias.Length : 0, output.Length);
        if (inShape.Count > int.MaxValue || weight.Length > int.MaxValue)
            throw new ArgumentException($"conv2d: input {inShape} or weight ({weight.Length}) exceeds 2^31 elements");
        if (variant == Conv2dVariant.Auto) variant = Choose(p, device.Kind);
        if (variant is Conv2dVariant.Tiled or Conv2dVariant.Pointwise && p.Groups != 1)
            throw new ArgumentException($"conv2d: the {variant} variant needs groups == 1, got {p.Groups}; use Naive");
        if (variant == Conv2dVariant.Pointwise && !IsPointwise(p))
            throw new ArgumentException($"conv2d: the Pointwise variant needs a 1x1 kernel, stride 1 and no padding, got {p}");

        var g = new Conv2dGeometry(inShape, outShape, p);
        // Without a bias the kernels never read it; pass a valid view so no backend sees a null buffer.
        var b = p.HasBias ? bias : weight;
        var s = stream ?? device.Accelerator.DefaultStream;
        switch (variant)
        {
            case Conv2dVariant.Naive:
                naive(s, (int)outShape.Count, input, weight, b, output, g);
                break;
            case Conv2dVariant.Tiled or Conv2dVariant.Pointwise:
                int groups = (g.GemmM + Conv2dKernels.TileM - 1) / Conv2dKernels.TileM * ((g.GemmN + Conv2dKernels.TileN - 1) / Conv2dKernels.TileN);
                var config = new KernelConfig(groups, Conv2dKernels.TiledGroupSize);
                (variant == Conv2dVariant.Tiled ? Tiled : Pointwise)(s, config, input, weight, b, output, g);
                break;
            default:
                throw new ArgumentException($"conv2d: unknown variant {variant}");
        }
    }
}
