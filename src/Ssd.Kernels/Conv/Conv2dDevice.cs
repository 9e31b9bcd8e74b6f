using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Ssd.Kernels.Core;
using Ssd.Kernels.Roofline;

namespace Ssd.Kernels.Conv;

/// <summary>
/// Which device convolution runs a layer (<see cref="Conv2dVariant.Auto"/>): on CUDA the variant the roofline model
/// (<see cref="Conv2dCosts"/>, <see cref="RooflineModel"/>) predicts fastest for the layer's shape on this GPU, TF32
/// only when the backend allows it (<see cref="DeviceOptions.AllowTf32"/>) and the GPU is sm_80 or later; on OpenCL
/// and the CPU simulator the PoCL-era rule (<see cref="Conv2dOp.Choose"/>): the register-tiled kernels are written
/// for a GPU's registers and shared memory, not for PoCL's work-item loops.
/// </summary>
internal static class Conv2dChoice
{
    /// <summary>The variants <see cref="Conv2dVariant.Auto"/> chooses among on CUDA, in order of preference on a tie.</summary>
    public static IEnumerable<Conv2dVariant> Candidates(Conv2dParams p, TensorShape input, int outC, bool tf32)
    {
        if (tf32 && Conv2dDevice.GemmApplies(p, input, outC)) yield return Conv2dVariant.Tf32;
        if (Conv2dDevice.WinogradApplies(p, input, outC)) yield return Conv2dVariant.Winograd;
        if (Conv2dDevice.GemmApplies(p, input, outC)) yield return Conv2dVariant.Gemm;
        if (p.Groups == 1) yield return Conv2dOp.IsPointwise(p) ? Conv2dVariant.Pointwise : Conv2dVariant.Tiled;
        yield return Conv2dVariant.Naive;
    }

    /// <summary>The fastest candidate by the model on <paramref name="gpu"/>.</summary>
    public static Conv2dVariant ForGpu(Conv2dParams p, TensorShape input, int outC, GpuSpec gpu, bool tf32) =>
        Candidates(p, input, outC, tf32).MinBy(v => Conv2dCosts.PredictSeconds(v, input, outC, p, gpu));

    /// <summary>The variant Auto runs on <paramref name="context"/>'s device.</summary>
    public static Conv2dVariant For(Conv2dParams p, TensorShape input, int outC, IlgpuOpContext context)
    {
        var device = context.Device;
        if (device.Kind != BackendKind.Cuda) return Conv2dOp.Choose(p, device.Kind);
        return ForGpu(p, input, outC, SpecOf(device), context.Options.AllowTf32 && Conv2dDevice.HasTensorCores(device));
    }

    /// <summary>The H100 figures with this GPU's SM count (what varies most between the parts the rule meets).</summary>
    public static GpuSpec SpecOf(ComputeDevice device) =>
        device.Accelerator is CudaAccelerator cuda ? GpuSpec.H100 with { Name = cuda.Name, Sms = cuda.NumMultiprocessors } : GpuSpec.H100;
}

/// <summary>
/// One convolution bound to its buffers on a device, for any <see cref="Conv2dVariant"/>: the weights uploaded once
/// in the variant's layout (OIHW, packed GEMM panels, Winograd U, TF32-rounded), the tap table, the geometry, the
/// launch configurations and the loaded kernels are all made here; <see cref="Run"/> only queues the launches (one,
/// or three for Winograd), with no allocation and no lookup. Weights can be replaced with <see cref="Upload"/>.
/// </summary>
internal sealed class Conv2dDevice : IDisposable
{
    private readonly Conv2dParams p;
    private readonly TensorShape input, output;
    private readonly DeviceWorkspace? workspace;
    private MemoryBuffer1D<float, Stride1D.Dense> weight;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> bias;
    private readonly MemoryBuffer1D<int, Stride1D.Dense>? taps;
    private readonly Action<AcceleratorStream> launch;
    private readonly long vFloats, mFloats;

    public Conv2dVariant Variant { get; }

    /// <remarks><paramref name="variant"/>: A concrete variant (resolve Auto first, e.g. with <see cref="Conv2dChoice.For"/>).</remarks>
    /// <remarks><paramref name="workspace"/>: Scratch shared with other executors of the stream (Winograd's V and M); null allocates none.</remarks>
    public Conv2dDevice(ComputeDevice device, Conv2dVariant variant, Conv2dParams p, TensorShape input, int outChannels, ArrayView<float> x, ArrayView<float> y,
        ReadOnlySpan<float> weights, ReadOnlySpan<float> biasValues, DeviceWorkspace? workspace)
    {
        (this.p, this.input, this.workspace, Variant) = (p, input, workspace, variant);
        output = p.CheckLengths(input, outChannels, x.Length, weights.Length, p.HasBias ? biasValues.Length : 0, y.Length);
        if (!Applies(variant, p, input, outChannels))
            throw new ArgumentException($"conv2d: variant {variant} does not apply to {p} on {input} -> {outChannels}");
        if (variant == Conv2dVariant.Tf32 && !HasTensorCores(device))
            throw new NotSupportedException($"conv2d: the TF32 tensor-core variant needs CUDA sm_80 or later, not {device.Description}");
        weight = device.Upload(DeviceWeights(weights));
        bias = device.Upload(p.HasBias ? biasValues : [0f]);
        var a = device.Accelerator;
        switch (variant)
        {
            case Conv2dVariant.Naive:
            {
                var g = new Conv2dGeometry(input, output, p);
                var k = device.Kernel("conv2d.1", acc => acc.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dGeometry>(
                    Conv2dKernels.Conv2d1));
                int count = (int)output.Count;
                launch = s => k(s, count, x, weight.View, bias.View, y, g);
                break;
            }
            case Conv2dVariant.Tiled or Conv2dVariant.Pointwise:
            {
                var g = new Conv2dGeometry(input, output, p);
                var k = device.Kernel(variant == Conv2dVariant.Tiled ? "conv2d.2" : "conv2d.3", acc => acc.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dGeometry>(
                    variant == Conv2dVariant.Tiled ? Conv2dKernels.Conv2d2 : Conv2dKernels.Conv2d3));
                int groups = (g.GemmM + Conv2dKernels.TileM - 1) / Conv2dKernels.TileM * ((g.GemmN + Conv2dKernels.TileN - 1) / Conv2dKernels.TileN);
                var config = new KernelConfig(groups, Conv2dKernels.TiledGroupSize);
                launch = s => k(s, config, x, weight.View, bias.View, y, g);
                break;
            }
            case Conv2dVariant.Gemm or Conv2dVariant.Tf32 or Conv2dVariant.Tf32Emulated:
            {
                var g = new ConvGemmGeometry(input, output, p);
                taps = a.Allocate1D(ConvGemmLayout.Taps(g, p));
                var k = GemmKernel(device, variant);
                var config = new KernelConfig(g.Blocks, Conv2dGemmKernels.GroupSize);
                var t = taps.View;
                launch = s => k(s, config, x, weight.View, t, bias.View, y, g);
                break;
            }
            case Conv2dVariant.Winograd:
            {
                var shape = Conv2dWinograd.GemmShape(input, output);
                var w = new WinogradGeometry(input, output, p);
                var g = new ConvGemmGeometry(shape.Input, shape.Output, shape.P);
                taps = a.Allocate1D(ConvGemmLayout.Taps(g, shape.P));
                (vFloats, mFloats) = (shape.Input.Count, shape.Output.Count);
                workspace?.Reserve(Align(vFloats) + mFloats);
                var gemm = GemmKernel(device, Conv2dVariant.Gemm);
                var transformIn = device.Kernel("conv2d.5.in", acc => acc.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, WinogradGeometry>(
                    Conv2dWinogradKernels.Conv2d5Input));
                var transformOut = device.Kernel("conv2d.5.out", acc => acc.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, WinogradGeometry>(
                    Conv2dWinogradKernels.Conv2d5Output));
                var config = new KernelConfig(g.Blocks, Conv2dGemmKernels.GroupSize);
                var t = taps.View;
                int inThreads = input.C * w.Tiles, outThreads = output.C * w.Tiles;
                // Without a shared workspace the scratch is this executor's own.
                var own = workspace is null ? device.Allocate(Align(vFloats) + mFloats) : null;
                launch = s =>
                {
                    var (v, m) = Scratch(own, s);
                    transformIn(s, inThreads, x, v, w);
                    gemm(s, config, v, weight.View, t, bias.View, m, g);
                    transformOut(s, outThreads, m, bias.View, y, w);
                };
                ownScratch = own;
                break;
            }
            default:
                throw new ArgumentException($"conv2d: unknown variant {variant}");
        }
    }

    private readonly MemoryBuffer1D<float, Stride1D.Dense>? ownScratch;

    private (ArrayView<float> V, ArrayView<float> M) Scratch(MemoryBuffer1D<float, Stride1D.Dense>? own, AcceleratorStream s)
    {
        var all = own?.View ?? workspace!.View(s);
        return (all.SubView(0, vFloats), all.SubView(Align(vFloats), mFloats));
    }

    private static long Align(long floats) => (floats + 63) / 64 * 64;

    private static Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ConvGemmGeometry> GemmKernel(
        ComputeDevice device, Conv2dVariant variant) =>
        device.Kernel($"conv2d.{(int)variant}", acc => acc.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ConvGemmGeometry>(
            variant switch
            {
                Conv2dVariant.Gemm => Conv2dGemmKernels.Conv2d4,
                Conv2dVariant.Tf32 => Conv2dGemmKernels.Conv2d6,
                _ => Conv2dGemmKernels.Conv2d7,
            }));

    /// <summary>The weights in the layout the variant reads.</summary>
    private float[] DeviceWeights(ReadOnlySpan<float> weights)
    {
        switch (Variant)
        {
            case Conv2dVariant.Gemm or Conv2dVariant.Tf32 or Conv2dVariant.Tf32Emulated:
            {
                var packed = ConvGemmLayout.PackWeights(weights, new ConvGemmGeometry(input, output, p), p.KernelH * p.KernelW);
                if (Variant != Conv2dVariant.Gemm) Tf32.Round(packed);
                return packed;
            }
            case Conv2dVariant.Winograd:
            {
                var shape = Conv2dWinograd.GemmShape(input, output);
                var u = Conv2dWinograd.TransformWeights(weights, input.C, output.C);
                return ConvGemmLayout.PackWeights(u, new ConvGemmGeometry(shape.Input, shape.Output, shape.P), 1);
            }
            default:
                return weights.ToArray();
        }
    }

    /// <summary>Queues the launches on <paramref name="stream"/>.</summary>
    public void Run(AcceleratorStream stream) => launch(stream);

    /// <summary>Replaces the weights (and bias) with new values in the variant's layout; waits for queued launches first.</summary>
    public void Upload(AcceleratorStream stream, ReadOnlySpan<float> weights, ReadOnlySpan<float> biasValues)
    {
        var w = DeviceWeights(weights);
        stream.Synchronize();
        weight.View.BaseView.CopyFromCPU(w);
        if (p.HasBias) bias.View.BaseView.CopyFromCPU(biasValues);
    }

    /// <summary>The register-tiled kernels take any convolution whose dilated kernel and image fit the tap table.</summary>
    public static bool GemmApplies(Conv2dParams p, TensorShape input, int outC) =>
        input.H < 0x3000 && input.W < 0x3000 && p.DilationH * (p.KernelH - 1) < 0x1000 && p.DilationW * (p.KernelW - 1) < 0x1000
        && (long)input.N * input.C * input.H * input.W < int.MaxValue;

    /// <summary>Winograd F(2x2, 3x3): 3x3, stride 1, dilation 1, one group, V and M within 2^31 floats.</summary>
    public static bool WinogradApplies(Conv2dParams p, TensorShape input, int outC)
    {
        if (p is not { KernelH: 3, KernelW: 3, StrideH: 1, StrideW: 1, DilationH: 1, DilationW: 1, Groups: 1 }) return false;
        var o = p.OutputShape(input, outC);
        long tiles = (long)o.N * ((o.H + 1) / 2) * ((o.W + 1) / 2);
        return 16 * tiles * Math.Max(input.C, outC) < int.MaxValue && GemmApplies(Conv2dParams.Square(1), new TensorShape(1, 16 * input.C, 1, (int)Math.Min(tiles, int.MaxValue)), 16 * outC);
    }

    /// <summary>Whether <paramref name="variant"/> can run this convolution (on a device that has what it needs).</summary>
    public static bool Applies(Conv2dVariant variant, Conv2dParams p, TensorShape input, int outC) => variant switch
    {
        Conv2dVariant.Naive => true,
        Conv2dVariant.Tiled => p.Groups == 1,
        Conv2dVariant.Pointwise => Conv2dOp.IsPointwise(p),
        Conv2dVariant.Gemm or Conv2dVariant.Tf32 or Conv2dVariant.Tf32Emulated => GemmApplies(p, input, outC),
        Conv2dVariant.Winograd => WinogradApplies(p, input, outC),
        _ => false,
    };

    /// <summary>True on a CUDA GPU of compute capability 8.0 or later (TF32 mma.sync).</summary>
    public static bool HasTensorCores(ComputeDevice device) =>
        device.Accelerator is CudaAccelerator cuda && cuda.Architecture.Major >= 8;

    public void Dispose()
    {
        weight.Dispose();
        bias.Dispose();
        taps?.Dispose();
        ownScratch?.Dispose();
    }
}

/// <summary>The host side of the device Winograd F(2x2, 3x3): its GEMM as a grouped 1x1 convolution, and U = G g G^T.</summary>
internal static class Conv2dWinograd
{
    /// <summary>
    /// The 16 products M[xi] = U[xi] x V[xi] as one convolution for the register-tiled GEMM: V [16*C, tiles] is an
    /// input of 16*C channels of 1 x tiles pixels, M [16*outC, tiles] its output, 16 groups, 1x1, no bias, no ReLU.
    /// </summary>
    public static (TensorShape Input, TensorShape Output, Conv2dParams P) GemmShape(TensorShape input, TensorShape output)
    {
        int tiles = checked(output.N * ((output.H + 1) / 2) * ((output.W + 1) / 2));
        return (new TensorShape(1, 16 * input.C, 1, tiles), new TensorShape(1, 16 * output.C, 1, tiles), Conv2dParams.Square(1, groups: 16, hasBias: false));
    }

    /// <summary>U[xi][o][c] (OIHW 3x3 weights in), as the CPU's F(2x2) computes it.</summary>
    public static float[] TransformWeights(ReadOnlySpan<float> weights, int inC, int outC) => WinogradConv.TransformWeights(weights, inC, outC);
}
