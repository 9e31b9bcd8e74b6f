using Ssd.Engine.Graph;
using Ssd.Kernels.Activation;
using Ssd.Kernels.Conv;
using Ssd.Kernels.L2Norm;
using Ssd.Kernels.Layout;
using Ssd.Kernels.Pooling;
using Ssd.Kernels.Softmax;
using Ssd.Weights.Model;

namespace Ssd.Engine.Backends.Cpu;

/// <summary>The CPU executors: each runs the plain C# reference of its op family on slices of the arena.</summary>
internal abstract class CpuLayer(string layer, CpuBackend backend) : ILayerExecutor
{
    public string Layer { get; } = layer;
    protected CpuBackend Backend { get; } = backend;
    protected Span<float> Slice(ArenaSlice s) => Backend.Arena.AsSpan((int)s.Offset, (int)s.Length);
    public abstract void Run();
}

/// <summary>Conv2dReference, one output plane per task (planes are independent).</summary>
internal sealed class CpuConvReference(ConvStep step, ArenaSlice input, ArenaSlice output, CpuBackend backend) : CpuLayer(step.Layer, backend)
{
    private readonly float[] bias = step.Bias ?? [];

    public override void Run()
    {
        var arena = Backend.Arena;
        var p = step.Params;
        var inShape = step.InShape;
        p.CheckLengths(inShape, step.OutChannels, input.Length, step.Weight.Length, bias.Length, output.Length);
        Parallel.For(0, inShape.N * step.OutChannels, i =>
        {
            var x = new ReadOnlySpan<float>(arena, (int)input.Offset, (int)input.Length);
            var y = new Span<float>(arena, (int)output.Offset, (int)output.Length);
            Conv2dReference.ForwardPlane(x, inShape, step.Weight, bias, p, step.OutChannels, i / step.OutChannels, i % step.OutChannels, y);
        });
    }
}

internal sealed class CpuRelu(ReluStep step, ArenaSlice input, ArenaSlice output, CpuBackend backend) : CpuLayer(step.Layer, backend)
{
    public override void Run() => ReluReference.Forward(Slice(input), Slice(output));
}

internal sealed class CpuPool(PoolStep step, ArenaSlice input, ArenaSlice output, CpuBackend backend) : CpuLayer(step.Layer, backend)
{
    public override void Run()
    {
        if (step.Method == PoolMethod.Max) PoolReference.Max(step.Geometry, Slice(input), Slice(output));
        else PoolReference.Average(step.Geometry, AvgPoolDivisor.PaddedWindow, Slice(input), Slice(output));
    }
}

internal sealed class CpuNormalize(NormalizeStep step, ArenaSlice input, ArenaSlice output, CpuBackend backend) : CpuLayer(step.Layer, backend)
{
    public override void Run()
    {
        var s = step.Input.Nchw;
        L2NormReference.Forward(s.N, s.C, s.H, s.W, Slice(input), step.Scale, step.Mode, step.Eps, Slice(output));
    }
}

internal sealed class CpuPermute(PermuteStep step, ArenaSlice input, ArenaSlice output, CpuBackend backend) : CpuLayer(step.Layer, backend)
{
    public override void Run() => LayoutReference.Permute(step.Input.Shape, step.Order, Slice(input), Slice(output));
}

/// <summary>Row-wise concatenation: each output row is the inputs' rows one after another.</summary>
internal sealed class CpuConcat(ConcatStep step, IReadOnlyList<ArenaSlice> inputs, ArenaSlice output, CpuBackend backend) : CpuLayer(step.Layer, backend)
{
    public override void Run()
    {
        var y = Slice(output);
        int rows = step.Rows, total = (int)(output.Length / rows), offset = 0;
        foreach (var s in inputs)
        {
            int len = (int)(s.Length / rows);
            var x = Slice(s);
            for (int r = 0; r < rows; r++) x.Slice(r * len, len).CopyTo(y.Slice(r * total + offset, len));
            offset += len;
        }
    }
}

internal sealed class CpuSoftmax(SoftmaxStep step, ArenaSlice input, ArenaSlice output, CpuBackend backend) : CpuLayer(step.Layer, backend)
{
    public override void Run() => SoftmaxReference.Forward(step.Outer, step.Classes, step.Inner, Slice(input), Slice(output));
}
