using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Conv;

/// <summary>A convolution's weights as its executors read them: OIHW weight and optional bias (any BatchNorm or
/// Scale already folded in by the caller).</summary>
public readonly record struct ConvWeights(float[] Weight, float[]? Bias);

/// <summary>
/// A convolution step: hyper-parameters, input shape, output channels, and where its weights come from. The reader is
/// called when an executor is made and again on <see cref="IWeightedExecutor.RefreshWeights"/>, so an edited weight
/// reaches the packed (CPU) or uploaded (device) copy.
/// </summary>
internal sealed record ConvParams(Conv2dParams P, TensorShape Input, int OutChannels, Func<ConvWeights> Weights)
{
    public TensorShape Output => P.OutputShape(Input, OutChannels);
    public override string ToString() => $"conv {Input} -> {OutChannels} {P}";
}

/// <summary>
/// The Conv family: <see cref="Conv2dReference"/> (double accumulation), the CPU backend's <see cref="CpuConv2d"/> by
/// algorithm (auto, packed GEMM, Winograd F(4x4), direct depthwise) and the ILGPU kernels (auto, naive, tiled,
/// pointwise). Float32 sums in another order than the reference's: each variant declares its bound.
/// Backward (<see cref="Conv2dBackwardReference"/>): reads x (and, with a fused ReLU, the output y for its mask) and dy;
/// its outputs are dx, then the parameter gradients dw and (with a bias) db. An empty dx slice skips dx (conv1_1).
/// The CPU's <see cref="Conv2dBackwardSimd"/> and the ILGPU kernels (auto, naive, tiled) read the weights as the
/// forward does (the device variants upload them, again on refresh); the CPU's dx of a 3x3 stride-1 layer runs as the
/// Winograd F(4x4) forward conv of g with the flipped filters (<see cref="WinogradInputGradient"/>) where the forward's
/// choice of algorithm picks Winograd for g's shape, and its dw as the adjoint of the forward's F(4x4)
/// (<see cref="WinogradWeightGradient"/>) where that does less work (cpu.simd), or both wherever they apply
/// (cpu.simd.winograd4x4).
/// </summary>
internal static class ConvVariants
{
    private static readonly ErrorBound CpuBound = new(1e-4f, 1e-5f);
    private static readonly ErrorBound DeviceBound = new(1e-4f, 1e-4f);
    /// <summary>Float32 sums of up to ~20 000 terms (the reference sums in double).</summary>
    private static readonly ErrorBound BackwardBound = new(1e-4f, 1e-4f);
    // TF32 keeps 10 of float32's 23 mantissa bits (relative rounding 2^-11 per input): over K products of O(1/sqrt(K))
    // weights the sum's error is a few 1e-4 of an O(1) output; 3e-3 leaves room without hiding a wrong fragment.
    private static readonly ErrorBound Tf32Bound = new(3e-3f, 3e-3f);

    public static readonly OpFamily<ConvParams> Conv2d = new()
    {
        Name = "conv",
        Forward = static (p, x, y) =>
        {
            var w = p.Weights();
            Conv2dReference.Forward(x[0], p.Input, w.Weight, w.Bias ?? [], p.P, p.OutChannels, y[0]);
        },
        Backward = static (p, r, g) =>
        {
            var w = p.Weights();
            Conv2dBackwardReference.Backward(r[0], p.Input, w.Weight, p.P, p.OutChannels, p.P.FuseRelu ? r[1] : [], r[^1], g[0], g[1],
                p.P.HasBias ? g[2] : []);
        },
        // Backward reads x for dW and, with a fused ReLU, the output for its mask.
        BackwardReads = static p => p.P.FuseRelu ? [OpValue.Input(), OpValue.Output] : [OpValue.Input()],
        ParameterGradients = static p => p.P.HasBias ? [p.Weights().Weight.Length, p.OutChannels] : [p.Weights().Weight.Length],
        Variants =
        [
            Cpu("cpu.auto", CpuConvAlgorithm.Auto) with { IsDefault = true },
            Cpu("cpu.gemm", CpuConvAlgorithm.Gemm),
            Cpu("cpu.winograd4x4", CpuConvAlgorithm.Winograd4x4) with { Applies = static p => CpuConv2d.IsWinogradEligible(p.P) },
            Cpu("cpu.direct", CpuConvAlgorithm.Direct) with { Applies = static p => CpuConv2d.IsDepthwise(p.P, p.Input.C) },
            Device("conv2d.auto", Conv2dVariant.Auto) with { IsDefault = true },
            Device("conv2d.1", Conv2dVariant.Naive),
            Device("conv2d.2", Conv2dVariant.Tiled),
            Device("conv2d.3", Conv2dVariant.Pointwise),
            Device("conv2d.4", Conv2dVariant.Gemm),
            Device("conv2d.5", Conv2dVariant.Winograd),
            Device("conv2d.6", Conv2dVariant.Tf32) with
            {
                Bound = Tf32Bound,
                Runs = static c => c is IlgpuOpContext d && Conv2dDevice.HasTensorCores(d.Device),
            },
            Device("conv2d.7", Conv2dVariant.Tf32Emulated) with { Bound = Tf32Bound },
            OpVariant<ConvParams>.Cpu("cpu.simd", OpPass.Backward, static (p, b, c) => new CpuConvBackwardExecutor(p, b, c))
                with { IsDefault = true, Bound = BackwardBound },
            OpVariant<ConvParams>.Cpu("cpu.simd.winograd4x4", OpPass.Backward, static (p, b, c) => new CpuConvBackwardExecutor(p, b, c, forceWinograd: true))
                with { Bound = BackwardBound, Applies = static p => WinogradInputGradient.Applies(p.P) || WinogradWeightGradient.Applies(p.P) },
            DeviceBackward("conv2d.backward.auto", Conv2dBackwardVariant.Auto) with { IsDefault = true },
            DeviceBackward("conv2d.backward.1", Conv2dBackwardVariant.Naive),
            DeviceBackward("conv2d.backward.2", Conv2dBackwardVariant.Tiled) with { Applies = static p => p.P.Groups == 1 },
        ],
    };

    private static OpVariant<ConvParams> Cpu(string name, CpuConvAlgorithm algorithm) =>
        OpVariant<ConvParams>.Cpu(name, OpPass.Forward, (p, b, c) => new CpuConvExecutor(p, b, c, algorithm)) with { Bound = CpuBound };

    private static OpVariant<ConvParams> Device(string name, Conv2dVariant variant) =>
        OpVariant<ConvParams>.Ilgpu(name, OpPass.Forward, (p, b, c) => new DeviceConvExecutor(p, b, c, variant)) with
        {
            Bound = DeviceBound,
            Applies = variant == Conv2dVariant.Auto ? static _ => true : p => Conv2dDevice.Applies(variant, p.P, p.Input, p.OutChannels),
        };

    private static OpVariant<ConvParams> DeviceBackward(string name, Conv2dBackwardVariant variant) =>
        OpVariant<ConvParams>.Ilgpu(name, OpPass.Backward, (p, b, c) => new DeviceConvBackwardExecutor(p, b, c, variant)) with { Bound = BackwardBound };

    /// <summary>
    /// The CPU gradients: one <see cref="Conv2dBackwardSimd"/> (its scratch kept), the weights read at each run; dx of a
    /// 3x3 stride-1 layer by the Winograd forward conv of g where <see cref="WinogradInputGradient.For"/> picks it (always
    /// where it applies when forced), its flipped weights packed once and again on refresh.
    /// </summary>
    private sealed class CpuConvBackwardExecutor : IWeightedExecutor
    {
        private readonly ConvParams p;
        private readonly OpBinding b;
        private readonly CpuOpContext context;
        private readonly Conv2dBackwardSimd layer;
        private readonly WinogradInputGradient? winogradDx;

        public CpuConvBackwardExecutor(ConvParams p, OpBinding b, CpuOpContext context, bool forceWinograd = false)
        {
            (this.p, this.b, this.context) = (p, b, context);
            layer = new Conv2dBackwardSimd(p.P, p.Input.C, p.OutChannels, context.Options, forceWinograd);
            // No dx wanted (conv1_1): nothing to pack.
            if (b.Outputs[0].Length > 0)
                winogradDx = WinogradInputGradient.For(p.P, p.Input.C, p.OutChannels, p.Input, p.Weights().Weight, context.Options, forceWinograd);
        }

        public void Run()
        {
            var r = b.Inputs;
            layer.Backward(context.Span(r[0]), p.Input, p.Weights().Weight, p.P.FuseRelu ? context.Span(r[1]) : [], context.Span(r[^1]),
                context.Span(b.Outputs[0]), context.Span(b.Outputs[1]), p.P.HasBias ? context.Span(b.Outputs[2]) : [], winogradDx);
        }

        public void RefreshWeights() => winogradDx?.Refresh(p.Weights().Weight);
    }

    /// <summary>The device gradients: weights uploaded once (copied again on refresh), the op's scratch kept.</summary>
    private sealed class DeviceConvBackwardExecutor : IWeightedExecutor, IDisposable
    {
        private readonly ConvParams p;
        private readonly IlgpuOpContext context;
        private readonly Conv2dBackwardOp op;
        private readonly Conv2dBackwardVariant variant;
        private readonly OpBinding b;
        private readonly MemoryBuffer1D<float, Stride1D.Dense> weight;

        public DeviceConvBackwardExecutor(ConvParams p, OpBinding b, IlgpuOpContext context, Conv2dBackwardVariant variant)
        {
            (this.p, this.b, this.context, this.variant) = (p, b, context, variant);
            op = new Conv2dBackwardOp(context.Device);
            weight = context.Device.Upload(p.Weights().Weight);
        }

        public void Run()
        {
            var (r, c) = (b.Inputs, context);
            op.Backward(c.View(r[0]), p.Input, weight.View, p.P, p.OutChannels, p.P.FuseRelu ? c.View(r[1]) : default, c.View(r[^1]),
                c.View(b.Outputs[0]), c.View(b.Outputs[1]), p.P.HasBias ? c.View(b.Outputs[2]) : default, variant, c.Stream);
        }

        public void RefreshWeights()
        {
            context.Stream.Synchronize();
            weight.View.CopyFromCPU(p.Weights().Weight);
        }

        public void Dispose() { op.Dispose(); weight.Dispose(); }
    }

    /// <summary>The CPU convolution: weights packed (or Winograd-transformed) for the planned input size, repacked on refresh.</summary>
    private sealed class CpuConvExecutor : IWeightedExecutor
    {
        private readonly ConvParams p;
        private readonly CpuOpContext context;
        private readonly CpuConvOptions options;
        private readonly ArenaSlice input, output;
        private CpuConv2d conv;

        public CpuConvExecutor(ConvParams p, OpBinding b, CpuOpContext context, CpuConvAlgorithm algorithm)
        {
            (this.p, this.context, input, output) = (p, context, b.Input, b.Output);
            options = new CpuConvOptions(context.Options.Isa, algorithm, context.Options.Threads, PlannedInput: p.Input);
            conv = Pack();
        }

        private CpuConv2d Pack()
        {
            var w = p.Weights();
            return new CpuConv2d(p.P, p.Input.C, p.OutChannels, w.Weight, w.Bias ?? [], options);
        }

        public void Run() => conv.Forward(context.Span(input), p.Input, context.Span(output));
        public void RefreshWeights()
        {
            var w = p.Weights();
            if (!conv.TryRefresh(w.Weight, w.Bias ?? [])) conv = Pack();
        }
    }

    /// <summary>The device convolution: the variant chosen (Auto: <see cref="Conv2dChoice.For"/>) and everything its
    /// launches need made once (<see cref="Conv2dDevice"/>); Run queues them on the backend's stream.</summary>
    private sealed class DeviceConvExecutor : IWeightedExecutor, IDisposable
    {
        private readonly ConvParams p;
        private readonly AcceleratorStream stream;
        private readonly Conv2dDevice conv;

        public DeviceConvExecutor(ConvParams p, OpBinding b, IlgpuOpContext context, Conv2dVariant variant)
        {
            (this.p, stream) = (p, context.Stream);
            if (variant == Conv2dVariant.Auto) variant = Conv2dChoice.For(p.P, p.Input, p.OutChannels, context);
            var w = p.Weights();
            conv = new Conv2dDevice(context.Device, variant, p.P, p.Input, p.OutChannels, context.View(b.Input), context.View(b.Output),
                w.Weight, w.Bias ?? [], context.Workspace);
        }

        public Conv2dVariant Variant => conv.Variant;

        public void Run() => conv.Run(stream);

        public void RefreshWeights()
        {
            var w = p.Weights();
            conv.Upload(stream, w.Weight, w.Bias ?? []);
        }

        public void Dispose() => conv.Dispose();
    }
}
