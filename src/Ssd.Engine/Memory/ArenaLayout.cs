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
        // Loops over arrays, no Linq, value tuples or dictionaries of Ssd value types besides the Slices themselves:
        // their generic code is JIT-compiled at every start (ReadyToRun cannot hold it), and this runs in every
        // network's build (issue 13).
        PlanValue[] roots;
        BufferRequest[] requests;
        if (plan.Backward is { } backward)
        {
            var intervals = backward.Lifetimes(plan, keep);
            roots = new PlanValue[intervals.Count];
            requests = new BufferRequest[intervals.Count];
            for (int i = 0; i < roots.Length; i++)
            {
                var (root, first, last) = intervals[i];
                (roots[i], requests[i]) = (root, new BufferRequest(root.Count, first, last));
            }
        }
        else
        {
            // Each storage root once, in the order of its first value.
            var seen = new HashSet<PlanValue>();
            var distinct = new List<PlanValue>();
            foreach (var v in plan.Values) if (seen.Add(v.Root)) distinct.Add(v.Root);
            roots = [.. distinct];
            requests = new BufferRequest[roots.Length];
            for (int i = 0; i < roots.Length; i++)
            {
                var (first, last) = plan.Lifetime(roots[i]);
                requests[i] = new BufferRequest(roots[i].Count, first, last);
            }
        }
        var memory = MemoryPlanner.Plan(requests);
        var index = new Dictionary<PlanValue, int>(roots.Length);
        for (int i = 0; i < roots.Length; i++) index.Add(roots[i], i);
        var values = plan.Backward is null ? plan.Values : [.. plan.Values, .. plan.Backward.Values];
        var slices = new Dictionary<PlanValue, ArenaSlice>(values.Count);
        // A training schedule never touches a value fused away (a convolution's pre-ReLU output): it gets no memory.
        foreach (var v in values)
            slices.Add(v, index.TryGetValue(v.Root, out int i) ? new ArenaSlice(memory.Offsets[i], v.Count) : new ArenaSlice(0, 0));
        return new ArenaLayout(slices, memory);
    }
}
