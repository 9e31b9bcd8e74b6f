using Ssd.Engine.Graph;
using Ssd.Kernels.Conv;
using Ssd.Kernels.L2Norm;
using Ssd.Kernels.Pooling;
using Ssd.Weights.Model;
using Ssd.Kernels.Activation;
using Ssd.Kernels.Softmax;
using Ssd.Kernels.Layout;

namespace Ssd.Engine.Backends.Cpu;

/// <summary>
/// The CPU executors on slices of the arena: the SIMD convolution and the SIMD, multithreaded memory-bound ops
/// (<see cref="CpuPooling"/>, <see cref="CpuL2Norm"/>, <see cref="CpuSoftmax"/>, <see cref="CpuLayout"/>, <see cref="CpuRelu"/>),
/// each bit for bit its op family's plain C# reference.
/// </summary>
internal abstract class CpuLayer(string layer, CpuBackend backend) : ILayerExecutor
{
    public string Layer { get; } = layer;
    protected CpuBackend Backend { get; } = backend;
    protected Span<float> Slice(ArenaSlice s) => Backend.Arena.AsSpan((int)s.Offset, (int)s.Length);
    public abstract void Run();
}

/// <summary>The SIMD convolution (<see cref="CpuConv2d"/>): weights packed once here, bias and ReLU fused.</summary>
internal sealed class CpuConv(ConvStep step, ArenaSlice input, ArenaSlice output, CpuBackend backend) : CpuLayer(step.Layer, backend)
{
    private readonly CpuConv2d conv = new(step.Params, step.InShape.C, step.OutChannels, step.Weight, step.Bias ?? [],
        new CpuConvOptions(PlannedInput: step.InShape));

    public override void Run() => conv.Forward(Slice(input), step.InShape, Slice(output));
}

internal sealed class CpuReluLayer(ReluStep step, ArenaSlice input, ArenaSlice output, CpuBackend backend) : CpuLayer(step.Layer, backend)
{
    public override void Run() => CpuRelu.Forward(Slice(input), Slice(output));
}

internal sealed class CpuPool(PoolStep step, ArenaSlice input, ArenaSlice output, CpuBackend backend) : CpuLayer(step.Layer, backend)
{
    public override void Run()
    {
        if (step.Method == PoolMethod.Max) CpuPooling.Max(step.Geometry, Slice(input), Slice(output));
        else CpuPooling.Average(step.Geometry, AvgPoolDivisor.PaddedWindow, Slice(input), Slice(output));
    }
}

internal sealed class CpuNormalize(NormalizeStep step, ArenaSlice input, ArenaSlice output, CpuBackend backend) : CpuLayer(step.Layer, backend)
{
    public override void Run()
    {
        var s = step.Input.Nchw;
        CpuL2Norm.Forward(s.N, s.C, s.H, s.W, Slice(input), step.Scale, step.Mode, step.Eps, Slice(output));
    }
}

internal sealed class CpuPermute(PermuteStep step, ArenaSlice input, ArenaSlice output, CpuBackend backend) : CpuLayer(step.Layer, backend)
{
    public override void Run() => CpuLayout.Permute(step.Input.Shape, step.Order, Slice(input), Slice(output));
}

/// <summary>Row-wise concatenation: each output row is the inputs' rows one after another.</summary>
internal sealed class CpuConcat(ConcatStep step, IReadOnlyList<ArenaSlice> inputs, ArenaSlice output, CpuBackend backend) : CpuLayer(step.Layer, backend)
{
    private readonly int[] offsets = inputs.Select(s => checked((int)s.Offset)).ToArray();
    private readonly int[] lengths = inputs.Select(s => checked((int)s.Length)).ToArray();

    public override void Run() => CpuLayout.ConcatRows(step.Rows, Backend.Arena, offsets, lengths, Slice(output));
}

internal sealed class CpuSoftmaxLayer(SoftmaxStep step, ArenaSlice input, ArenaSlice output, CpuBackend backend) : CpuLayer(step.Layer, backend)
{
    public override void Run() => CpuSoftmax.Forward(step.Outer, step.Classes, step.Inner, Slice(input), Slice(output));
}
