using Ssd.Engine.Graph;
using Ssd.Engine.Network;

namespace Ssd.Engine.Backends;

/// <summary>A range of the backend's activation arena, in floats.</summary>
public readonly record struct ArenaSlice(long Offset, long Length)
{
    public override string ToString() => $"[{Offset}, +{Length})";
}

/// <summary>One layer bound to its weights (already on the backend) and to its slices of the arena; Run only
/// launches the work (no loading, no allocation).</summary>
public interface ILayerExecutor
{
    string Layer { get; }
    void Run();
}

/// <summary>
/// The op interface both backends implement. At load the network allocates the arena once and creates one
/// executor per plan step (weights uploaded/packed there); Forward then uploads the input, runs the executors in
/// order and downloads the results. Work may be queued asynchronously: only Download (and Synchronize) wait.
/// </summary>
public interface IBackend : IDisposable
{
    /// <summary>A one-line description, e.g. "cpu (managed reference)" or "OpenCL (pthread-...)".</summary>
    string Description { get; }

    /// <summary>Allocates the activation arena (Floats long), replacing any earlier one.</summary>
    void AllocateArena(long floats);

    void Upload(ReadOnlySpan<float> source, ArenaSlice destination);

    /// <summary>Waits for the queued work, then copies the slice to the host.</summary>
    void Download(ArenaSlice source, Span<float> destination);

    void Synchronize();

    ILayerExecutor Conv(ConvStep step, ArenaSlice input, ArenaSlice output);
    ILayerExecutor Relu(ReluStep step, ArenaSlice input, ArenaSlice output);
    ILayerExecutor Pool(PoolStep step, ArenaSlice input, ArenaSlice output);
    ILayerExecutor Normalize(NormalizeStep step, ArenaSlice input, ArenaSlice output);
    ILayerExecutor Permute(PermuteStep step, ArenaSlice input, ArenaSlice output);
    ILayerExecutor Concat(ConcatStep step, IReadOnlyList<ArenaSlice> inputs, ArenaSlice output);
    ILayerExecutor Softmax(SoftmaxStep step, ArenaSlice input, ArenaSlice output);
    ILayerExecutor Eltwise(EltwiseStep step, IReadOnlyList<ArenaSlice> inputs, ArenaSlice output);
    ILayerExecutor Affine(AffineStep step, ArenaSlice input, ArenaSlice output);

    /// <summary>The default boxes, by the Priors op family in the model's style.</summary>
    PriorBoxes Priors(PriorRequest request);
}
