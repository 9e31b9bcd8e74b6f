using Ssd.Kernels.Core;

namespace Ssd.Kernels.BatchNorm;

/// <summary>The per-channel affine op's parameters: the tensor's geometry around its channel axis and the stages
/// (read again on <see cref="IWeightedExecutor.RefreshWeights"/>: training updates Scale and the statistics).</summary>
internal sealed record AffineParams(ChannelGeometry Geometry, Func<ChannelAffine> Affine)
{
    public override string ToString()
    {
        var a = Affine();
        var stages = new[] { a.Mean is null ? null : "batchnorm", a.Scale is null ? null : a.Bias is null ? "scale" : "scale+bias", a.Relu ? "relu" : null };
        return $"{string.Join("+", stages.OfType<string>())} {Geometry.Outer}x{Geometry.Channels}x{Geometry.Inner}";
    }
}

/// <summary>
/// The BatchNorm family's inference op: Caffe's BatchNorm (stored statistics), Scale and a following ReLU over one
/// channel axis, each optional (<see cref="ChannelAffine"/>), where no convolution absorbs them. Its reference is the
/// stages' references run one after another; the CPU backend's <see cref="CpuChannelAffine"/> and the ILGPU kernel
/// are bit for bit that. For training, backward reads the input (Scale's gradient needs the normalised values) and
/// the output (the ReLU's mask).
/// </summary>
internal static class BatchNormVariants
{
    public static readonly OpFamily<AffineParams> Affine = new()
    {
        Name = "channel-affine",
        Forward = static (p, x, y) => p.Affine().Reference(p.Geometry, x[0], y[0]),
        BackwardReads = static _ => [OpValue.Input(), OpValue.Output],
        Variants =
        [
            OpVariant<AffineParams>.Cpu("cpu.simd", OpPass.Forward, static (p, b, c) => new CpuAffine(p, b, c)) with { IsDefault = true },
            OpVariant<AffineParams>.Ilgpu("batchnorm.affine.1", OpPass.Forward, static (p, b, c) => new DeviceAffine(p, b, c)) with { IsDefault = true },
        ],
    };

    private sealed class CpuAffine(AffineParams p, OpBinding b, CpuOpContext context) : IWeightedExecutor
    {
        private CpuChannelAffine.Prepared prepared = new(p.Affine());

        public void Run() => CpuChannelAffine.Forward(p.Geometry, prepared, context.Span(b.Input), context.Span(b.Output), context.Options);

        public void RefreshWeights() => prepared = new CpuChannelAffine.Prepared(p.Affine());
    }

    private sealed class DeviceAffine : IWeightedExecutor, IDisposable
    {
        private readonly AffineParams p;
        private readonly IlgpuOpContext context;
        private readonly BatchNormOp op;
        private readonly ILGPU.ArrayView<float> x, y;
        private DeviceChannelAffine constants;

        public DeviceAffine(AffineParams p, OpBinding b, IlgpuOpContext context)
        {
            (this.p, this.context) = (p, context);
            (op, x, y) = (new BatchNormOp(context.Device), context.View(b.Input), context.View(b.Output));
            p.Affine().Check(p.Geometry, x.Length, y.Length);
            constants = op.Upload(p.Affine());
        }

        public void Run() => op.Forward(p.Geometry, constants, x, y, context.Stream);

        public void RefreshWeights()
        {
            context.Stream.Synchronize();
            constants.Dispose();
            constants = op.Upload(p.Affine());
        }

        public void Dispose() => constants.Dispose();
    }
}
