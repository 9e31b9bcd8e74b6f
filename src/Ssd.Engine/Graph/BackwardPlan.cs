using Ssd.Engine.Backends;
using Ssd.Kernels.Core;

namespace Ssd.Engine.Graph;

/// <summary>One entry of the backward schedule.</summary>
public abstract record BackwardEntry;

/// <summary>
/// The backward of one forward step: reads <see cref="Reads"/> (what its op family says backward reads: inputs, the
/// output, values the training forward saved) and its output's gradient, writes each input's gradient (or that input's
/// share of it, when several steps read the input; the network input's gradient goes to a scratch value nothing reads),
/// then the gradient of each learned parameter of the step (<see cref="ParameterGradients"/>: conv dW and db, L2Norm's
/// d scale), kept to the end of the schedule so the optimizer can read them.
/// </summary>
public sealed record BackwardStep(PlanStep Forward, PlanValue[] Reads, PlanValue OutputGradient, PlanValue[] InputGradients) : BackwardEntry
{
    /// <summary>The gradients of the step's learned parameters (conv dW then db; L2Norm d scale), in that order.</summary>
    public PlanValue[] ParameterGradients { get; init; } = [];
}

/// <summary>A value several steps read: the shares of its gradient, summed into the gradient.</summary>
public sealed record GradientSum(PlanValue Gradient, PlanValue[] Parts) : BackwardEntry;

/// <summary>
/// The backward pass of a training plan: each forward step that lies on a path to the loss, replayed in reverse plan
/// order, with the values it adds (saved values, gradients, gradient shares) and the lifetime of every buffer over
/// the whole forward + backward schedule, so the training memory plan keeps each activation until the last backward
/// step that reads it (and no longer). The loss's gradients enter at <see cref="LocGradient"/> and
/// <see cref="ConfGradient"/>; when the graph ends in a softmax, the confidence gradient is the logits' (the loss's
/// softmax cross-entropy backward folds the softmax in), so that softmax has no backward step.
/// Gradients are kept per storage root: a Flatten or Reshape view shares its input's gradient as it shares its storage.
/// </summary>
public sealed class BackwardPlan
{
    private readonly Dictionary<PlanValue, PlanValue> gradients;

    /// <summary>The values the backward pass adds, in creation order (their ids follow the forward plan's).</summary>
    public IReadOnlyList<PlanValue> Values { get; }

    /// <summary>Per forward step, the values its training-mode forward writes after its output (possibly none).</summary>
    public IReadOnlyDictionary<PlanStep, PlanValue[]> Saved { get; }

    /// <summary>The backward schedule, in the order it runs.</summary>
    public IReadOnlyList<BackwardEntry> Entries { get; }

    /// <summary>The value the loss reads as confidences: the logits before a trailing softmax, else the conf output.</summary>
    public PlanValue LossConf { get; }

    /// <summary>Where the loss writes d loss / d loc (the backward pass starts there).</summary>
    public PlanValue LocGradient { get; }

    /// <summary>Where the loss writes d loss / d conf (of <see cref="LossConf"/>).</summary>
    public PlanValue ConfGradient { get; }

    private BackwardPlan(List<PlanValue> values, Dictionary<PlanStep, PlanValue[]> saved, List<BackwardEntry> entries,
        Dictionary<PlanValue, PlanValue> gradients, PlanValue lossConf, PlanValue locGradient, PlanValue confGradient)
    {
        (Values, Saved, Entries, this.gradients, LossConf, LocGradient, ConfGradient) = (values, saved, entries, gradients, lossConf, locGradient, confGradient);
    }

    /// <summary>The gradient of a value (of its storage root), or null when nothing on the way to the loss reads it.</summary>
    public PlanValue? GradientOf(PlanValue value) => gradients.GetValueOrDefault(value.Root);

    /// <summary>The backward schedule of a training plan: every step's backward in reverse order, gradient sums where values fan out.</summary>
    public static BackwardPlan Build(ExecutionPlan plan)
    {
        var steps = plan.Steps;
        int nextId = plan.Values.Count;
        var values = new List<PlanValue>();
        PlanValue New(string name, int[] shape) { var v = new PlanValue(nextId++, name, shape); values.Add(v); return v; }

        var saved = new Dictionary<PlanStep, PlanValue[]>();
        foreach (var step in steps)
            saved[step] = [.. OpRegistry.Saved(step).Select((n, i) => New($"{step.Layer}:saved{i}", [checked((int)n)]))];

        // The loss reads loc and the logits (the input of a softmax that ends the graph, through views).
        var producer = new Dictionary<PlanValue, int>();
        for (int s = 0; s < steps.Count; s++) producer[steps[s].Output.Root] = s;
        var lossConf = producer.TryGetValue(plan.Conf.Root, out int last) && steps[last] is SoftmaxStep softmax ? softmax.Input : plan.Conf;
        var locRoot = plan.Loc.Root;
        var confRoot = lossConf.Root;
        var inputRoot = plan.Input.Root;

        // Which storage roots need a gradient: the loss's, then every input of a step whose output needs one.
        var needs = new HashSet<PlanValue> { locRoot, confRoot };
        var active = new bool[steps.Count];
        for (int s = steps.Count - 1; s >= 0; s--)
        {
            if (!needs.Contains(steps[s].Output.Root)) continue;
            active[s] = true;
            foreach (var x in steps[s].Inputs)
                if (x.Root != inputRoot) needs.Add(x.Root);
        }

        // Who contributes to each gradient: the loss (for loc and the logits), and every active step reading the root.
        var contributors = needs.ToDictionary(r => r, _ => new List<(int Step, int Input)>());
        for (int s = 0; s < steps.Count; s++)
        {
            if (!active[s]) continue;
            for (int i = 0; i < steps[s].Inputs.Length; i++)
                if (contributors.TryGetValue(steps[s].Inputs[i].Root, out var list)) list.Add((s, i));
        }
        var gradients = needs.ToDictionary(r => r, r => New($"d:{r.Name}", r.Shape));
        int External(PlanValue r) => (r == locRoot ? 1 : 0) + (r == confRoot ? 1 : 0);

        // A root with one contribution gets it written straight into its gradient; with more, each writes a share and
        // a sum runs after the last of them (the reader earliest in the forward order, so latest in the backward one).
        var target = new Dictionary<(int Step, int Input), PlanValue>();
        var sumsAfter = new Dictionary<int, List<GradientSum>>();
        var lossTargets = new Dictionary<PlanValue, PlanValue>();
        foreach (var (root, list) in contributors)
        {
            int count = list.Count + External(root);
            if (count == 1)
            {
                if (list.Count == 1) target[list[0]] = gradients[root];
                else lossTargets[root] = gradients[root];
                continue;
            }
            var parts = new List<PlanValue>();
            if (External(root) > 0) parts.Add(lossTargets[root] = New($"d:{root.Name}:loss", root.Shape));
            foreach (var c in list) parts.Add(target[c] = New($"d:{root.Name}:{steps[c.Step].Layer}", root.Shape));
            int after = list.Count > 0 ? list.Min(c => c.Step) : steps.Count;
            if (!sumsAfter.TryGetValue(after, out var sums)) sumsAfter[after] = sums = [];
            sums.Add(new GradientSum(gradients[root], [.. parts]));
        }

        var entries = new List<BackwardEntry>();
        if (sumsAfter.TryGetValue(steps.Count, out var first)) entries.AddRange(first); // sums of the loss's shares alone
        for (int s = steps.Count - 1; s >= 0; s--)
        {
            if (!active[s]) continue;
            var step = steps[s];
            var reads = OpRegistry.BackwardReads(step).Select(r => r.Role switch
            {
                OpValueRole.Input => step.Inputs[r.Index],
                OpValueRole.Output => step.Output,
                _ => saved[step][r.Index],
            }).ToArray();
            var inputGradients = step.Inputs.Select((x, i) => target.TryGetValue((s, i), out var t) ? t : New($"d:{x.Name}:{step.Layer}(unused)", x.Shape)).ToArray();
            var parameterGradients = OpRegistry.ParameterGradients(step).Select((n, i) => New($"d:{step.Layer}:param{i}", [checked((int)n)])).ToArray();
            entries.Add(new BackwardStep(step, reads, gradients[step.Output.Root], inputGradients) { ParameterGradients = parameterGradients });
            if (sumsAfter.TryGetValue(s, out var sums)) entries.AddRange(sums);
        }
        return new BackwardPlan(values, saved, entries, gradients, lossConf, lossTargets[locRoot], lossTargets[confRoot]);
    }

    /// <summary>
    /// Every storage root of the training schedule with its live interval: forward step s runs at time s, the loss's
    /// gradients are uploaded at time S (the number of forward steps), backward entry j runs at S + 1 + j. An activation
    /// lives from its producer to its last reader, forward or backward; a saved value until its step's backward; a
    /// gradient or share from its first writer to its last reader; a parameter's gradient, the outputs and
    /// <paramref name="pinned"/> values to the end.
    /// </summary>
    public IReadOnlyList<(PlanValue Root, int First, int Last)> Lifetimes(ExecutionPlan plan, IEnumerable<PlanValue>? pinned = null)
    {
        int s0 = plan.Steps.Count, end = s0 + 1 + Entries.Count;
        var first = new Dictionary<PlanValue, int>();
        var lastUse = new Dictionary<PlanValue, int>();
        void Write(PlanValue v, int t) { var r = v.Root; first[r] = Math.Min(first.GetValueOrDefault(r, int.MaxValue), t); Read(r, t); }
        void Read(PlanValue v, int t) { var r = v.Root; lastUse[r] = Math.Max(lastUse.GetValueOrDefault(r, int.MinValue), t); }

        Write(plan.Input, -1);
        for (int s = 0; s < s0; s++)
        {
            var step = plan.Steps[s];
            foreach (var x in step.Inputs) Read(x, s);
            Write(step.Output, s);
            foreach (var v in Saved[step]) Write(v, s);
        }
        Write(LocGradient, s0);
        Write(ConfGradient, s0);
        for (int j = 0; j < Entries.Count; j++)
        {
            int t = s0 + 1 + j;
            switch (Entries[j])
            {
                case BackwardStep b:
                    foreach (var v in b.Reads) Read(v, t);
                    Read(b.OutputGradient, t);
                    foreach (var v in b.InputGradients) Write(v, t);
                    foreach (var v in b.ParameterGradients) { Write(v, t); Read(v, end); }
                    break;
                case GradientSum g:
                    foreach (var v in g.Parts) Read(v, t);
                    Write(g.Gradient, t);
                    break;
            }
        }
        foreach (var v in plan.Pinned.Concat(pinned ?? [])) Read(v, end);
        return [.. first.Keys.Select(r => (r, first[r], lastUse[r]))];
    }
}
