using Ssd.Engine.Graph;
using Ssd.Kernels.Core;

namespace Ssd.Engine.Memory;

/// <summary>
/// Where every value of a plan lives in one arena, per mode. Inference: each storage root from its producer to its last
/// reader, so activations are freed (their memory reused) as soon as the forward pass is past them. Training: over the
/// forward and backward schedule (<see cref="BackwardPlan.Lifetimes"/>), so every activation, saved value (pooling
/// argmax, L2Norm norms) and gradient lives until the last backward step that reads it. Views share their root's slice.
/// </summary>
public sealed record ArenaLayout(IReadOnlyDictionary<PlanValue, ArenaSlice> Slices, MemoryPlan Memory)
{
    /// <param name="plan">The network's plan.</param>
    /// <param name="keep">Values (of the backward pass: gradients) kept to the end of the schedule so they can be read.</param>
    public static ArenaLayout For(ExecutionPlan plan, IEnumerable<PlanValue>? keep = null)
    {
        var intervals = plan.Backward is { } backward
            ? backward.Lifetimes(plan, keep)
            : [.. plan.Values.Select(v => v.Root).Distinct().Select(r => { var (first, last) = plan.Lifetime(r); return (r, first, last); })];
        var memory = MemoryPlanner.Plan([.. intervals.Select(i => new BufferRequest(i.Root.Count, i.First, i.Last))]);
        var offset = intervals.Select((x, i) => (x.Root, i)).ToDictionary(x => x.Root, x => memory.Offsets[x.i]);
        var values = plan.Backward is null ? plan.Values : [.. plan.Values, .. plan.Backward.Values];
        // A training schedule never touches a value fused away (a convolution's pre-ReLU output): it gets no memory.
        return new ArenaLayout(values.ToDictionary(v => v, v => new ArenaSlice(offset.GetValueOrDefault(v.Root), offset.ContainsKey(v.Root) ? v.Count : 0)), memory);
    }
}
