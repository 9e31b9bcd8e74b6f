using Ssd.Engine.Graph;
using Ssd.Kernels.Activation;
using Ssd.Kernels.Conv;
using Ssd.Kernels.L2Norm;
using Ssd.Kernels.Layout;
using Ssd.Kernels.Pooling;
using Ssd.Kernels.Softmax;
using Ssd.Weights.Model;

namespace Ssd.Engine.Backends.Cpu;

/// <summary>The CPU executors on slices of the arena: the SIMD convolution, and the plain C# references of the other op families.</summary>
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
    private readonly CpuConv2d conv = new(step.Params, step.InShape.C, step.OutChannels, step.Weight, step.Bias ?? []);

    public override void Run() => conv.Forward(Slice(input), step.InShape, Slice(output));
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
