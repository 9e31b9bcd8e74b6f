using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.L2Norm;

/// <summary>SSD's channel-wise L2 normalisation: shape, where eps enters, eps, and the learned scale (1 or C values;
/// read again on <see cref="IWeightedExecutor.RefreshWeights"/>).</summary>
public sealed record L2NormParams(TensorShape Shape, L2NormEpsilon Mode, float Eps, Func<float[]> Scale)
{
    public override string ToString() => $"l2norm {Shape} {Mode} eps {Eps:G3}";
}

/// <summary>
/// The L2Norm family: <see cref="L2NormReference"/>, the CPU backend's <see cref="CpuL2Norm"/> (bit for bit) and the
/// ILGPU kernel (within a float32 rounding of the square root). Training-mode forward saves each pixel's norm.
/// </summary>
public static class L2NormVariants
{
    public static readonly OpFamily<L2NormParams> L2Norm = new()
    {
        Name = "l2norm",
        Forward = static (p, x, y) => L2NormReference.Forward(p.Shape.N, p.Shape.C, p.Shape.H, p.Shape.W, x[0], p.Scale(), p.Mode, p.Eps, y[0]),
        Saved = static p => [(long)p.Shape.N * p.Shape.PlaneSize],
        BackwardReads = static _ => [OpValue.Input(), OpValue.Saved()],
        Variants =
        [
            OpVariant<L2NormParams>.Cpu("cpu.simd", OpPass.Forward, static (p, b, c) =>
                new LaunchExecutor(() => CpuL2Norm.Forward(p.Shape.N, p.Shape.C, p.Shape.H, p.Shape.W, c.Span(b.Input), p.Scale(), p.Mode, p.Eps,
                    c.Span(b.Output), c.Options))) with { IsDefault = true },
            OpVariant<L2NormParams>.Ilgpu("l2norm.1", OpPass.Forward, static (p, b, c) => new DeviceL2Norm(p, b, c))
                with { IsDefault = true, Bound = new ErrorBound(2e-6f, 1e-7f) },
        ],
    };

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
