using Ssd.Engine.Graph;
using Ssd.Engine.Network;

namespace Ssd.Engine.Backends.Cpu;

/// <summary>
/// The managed backend: the arena is a float[] and the convolutions and the other layers run SIMD, multithreaded code that is bit for bit each op family's C# reference. Work is
/// synchronous, so Download and Synchronize have nothing to wait for.
/// </summary>
public sealed class CpuBackend : IBackend
{
    internal float[] Arena { get; private set; } = [];

    public string Description => "cpu (managed SIMD)";

    public void AllocateArena(long floats)
    {
        if (floats < 0 || floats > Array.MaxLength) throw new ArgumentException($"arena of {floats} floats does not fit a managed array");
        Arena = new float[floats];
    }

    public void Upload(ReadOnlySpan<float> source, ArenaSlice destination)
    {
        if (source.Length != destination.Length) throw new ArgumentException($"upload: {source.Length} floats into a slice of {destination.Length}");
        source.CopyTo(Arena.AsSpan((int)destination.Offset, (int)destination.Length));
    }

    public void Download(ArenaSlice source, Span<float> destination)
    {
        if (destination.Length != source.Length) throw new ArgumentException($"download: a slice of {source.Length} floats into {destination.Length}");
        Arena.AsSpan((int)source.Offset, (int)source.Length).CopyTo(destination);
    }

    public void Synchronize() { }

    /// <summary>The one place the CPU convolution is chosen (swap in a faster implementation here).</summary>
    public ILayerExecutor Conv(ConvStep step, ArenaSlice input, ArenaSlice output) => new CpuConv(step, input, output, this);

    public ILayerExecutor Relu(ReluStep step, ArenaSlice input, ArenaSlice output) => new CpuReluLayer(step, input, output, this);
    public ILayerExecutor Pool(PoolStep step, ArenaSlice input, ArenaSlice output) => new CpuPool(step, input, output, this);
    public ILayerExecutor Normalize(NormalizeStep step, ArenaSlice input, ArenaSlice output) => new CpuNormalize(step, input, output, this);
    public ILayerExecutor Permute(PermuteStep step, ArenaSlice input, ArenaSlice output) => new CpuPermute(step, input, output, this);
    public ILayerExecutor Concat(ConcatStep step, IReadOnlyList<ArenaSlice> inputs, ArenaSlice output) => new CpuConcat(step, inputs, output, this);
    public ILayerExecutor Softmax(SoftmaxStep step, ArenaSlice input, ArenaSlice output) => new CpuSoftmaxLayer(step, input, output, this);
    public ILayerExecutor Eltwise(EltwiseStep step, IReadOnlyList<ArenaSlice> inputs, ArenaSlice output) => new CpuEltwiseLayer(step, inputs, output, this);
    public ILayerExecutor Affine(AffineStep step, ArenaSlice input, ArenaSlice output) => new CpuAffineLayer(step, input, output, this);

    public PriorBoxes Priors(PriorRequest request) => request.ComputeReference();

    public void Dispose() { }
}
