using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.L2Norm;

/// <summary>SSD's channel-wise L2 normalisation: shape, where eps enters, eps, and the learned scale (1 or C values;
/// read again on <see cref="IWeightedExecutor.RefreshWeights"/>); for training, which dx formula the flavour uses.</summary>
internal sealed record L2NormParams(TensorShape Shape, L2NormEpsilon Mode, float Eps, Func<float[]> Scale, L2NormGradient Rule = L2NormGradient.Exact)
{
    public override string ToString() => $"l2norm {Shape} {Mode} eps {Eps:G3}";
}

/// <summary>
/// The L2Norm family: <see cref="L2NormReference"/>, the CPU backend's <see cref="CpuL2Norm"/> (bit for bit) and the
/// ILGPU kernel (within a float32 rounding of the square root). Backward (<see cref="L2NormBackwardReference"/>) reads x
/// and dy and writes dx, then the scale's gradient; it recomputes each pixel's sum of squares from x (one pass over the
/// channels, cheaper than keeping the norms alive), so training saves nothing extra.
/// </summary>
internal static class L2NormVariants
{
    // Before the family: static fields initialise in textual order.
    /// <summary>Float sums (the reference's are double; dscale adds every pixel of a channel).</summary>
    private static readonly ErrorBound BackwardBound = new(1e-4f, 1e-4f);

    public static readonly OpFamily<L2NormParams> L2Norm = new()
    {
        Name = "l2norm",
        Forward = static (p, x, y) => L2NormReference.Forward(p.Shape.N, p.Shape.C, p.Shape.H, p.Shape.W, x[0], p.Scale(), p.Mode, p.Eps, y[0]),
        Backward = static (p, r, g) => L2NormBackwardReference.Backward(p.Shape.N, p.Shape.C, p.Shape.H, p.Shape.W, r[0], p.Scale(), p.Mode, p.Eps,
            r[1], g[0], g[1], p.Rule),
        BackwardReads = static _ => [OpValue.Input()],
        ParameterGradients = static p => [p.Scale().Length],
        Variants =
        [
            OpVariant<L2NormParams>.Cpu("cpu.simd", OpPass.Forward, static (p, b, c) =>
                new LaunchExecutor(() => CpuL2Norm.Forward(p.Shape.N, p.Shape.C, p.Shape.H, p.Shape.W, c.Span(b.Input), p.Scale(), p.Mode, p.Eps,
                    c.Span(b.Output), c.Options))) with { IsDefault = true },
            OpVariant<L2NormParams>.Ilgpu("l2norm.1", OpPass.Forward, static (p, b, c) => new DeviceL2Norm(p, b, c))
                with { IsDefault = true, Bound = new ErrorBound(2e-6f, 1e-7f) },
            OpVariant<L2NormParams>.Cpu("cpu.simd", OpPass.Backward, static (p, b, c) =>
                new LaunchExecutor(() => L2NormBackwardSimd.Backward(p.Shape.N, p.Shape.C, p.Shape.H, p.Shape.W, c.Span(b.Inputs[0]), p.Scale(), p.Mode, p.Eps,
                    c.Span(b.Inputs[1]), c.Span(b.Outputs[0]), c.Span(b.Outputs[1]), p.Rule, c.Options))) with { IsDefault = true, Bound = BackwardBound },
            OpVariant<L2NormParams>.Ilgpu("l2norm.backward.1", OpPass.Backward, static (p, b, c) => new DeviceL2NormBackward(p, b, c))
                with { IsDefault = true, Bound = BackwardBound },
        ],
    };

    private sealed class DeviceL2NormBackward : IWeightedExecutor, IDisposable
    {
        private readonly L2NormParams p;
        private readonly IlgpuOpContext context;
        private readonly L2NormBackwardOp op;
        private readonly OpBinding b;
        private readonly MemoryBuffer1D<float, Stride1D.Dense> scale;

        public DeviceL2NormBackward(L2NormParams p, OpBinding b, IlgpuOpContext context)
        {
            (this.p, this.b, this.context) = (p, b, context);
            op = new L2NormBackwardOp(context.Device);
            scale = context.Device.Upload(p.Scale());
        }

        public void Run() => op.Backward(p.Shape, context.View(b.Inputs[0]), scale.View, p.Mode, p.Eps, context.View(b.Inputs[1]),
            context.View(b.Outputs[0]), context.View(b.Outputs[1]), p.Rule, context.Stream);

        public void RefreshWeights()
        {
            context.Stream.Synchronize();
            scale.View.CopyFromCPU(p.Scale());
        }

        public void Dispose() { op.Dispose(); scale.Dispose(); }
    }

    private sealed class DeviceL2Norm : IWeightedExecutor, IDisposable
    {
        private readonly L2NormParams p;
        private readonly IlgpuOpContext context;
        private readonly L2NormOp op;
        private readonly ArrayView<float> x, y;
        private readonly MemoryBuffer1D<float, Stride1D.Dense> scale;

        public DeviceL2Norm(L2NormParams p, OpBinding b, IlgpuOpContext context)
        {
            (this.p, this.context) = (p, context);
            (op, x, y) = (new L2NormOp(context.Device), context.View(b.Input), context.View(b.Output));
            scale = context.Device.Upload(p.Scale());
        }

        public void Run() => op.Forward(p.Shape, x, scale.View, p.Mode, p.Eps, y, context.Stream);

        public void RefreshWeights()
        {
            context.Stream.Synchronize();
            scale.View.CopyFromCPU(p.Scale());
        }

        public void Dispose() => scale.Dispose();
    }
}
