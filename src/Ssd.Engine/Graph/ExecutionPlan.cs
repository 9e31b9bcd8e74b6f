namespace Ssd.Engine.Graph;

/// <summary>What a plan is for: inference folds and fuses and frees activations early; training keeps what backward reads.</summary>
public enum PlanMode
{
    /// <summary>Forward only: BatchNorm folded, ReLU fused, activations freed after their last reader.</summary>
    Inference,
    /// <summary>Forward and backward: what the backward pass reads stays alive.</summary>
    Training,
}

/// <summary>
/// A model's graph resolved for one input size and batch: every value with its shape, the steps in execution
/// order, and the final binding of every blob name (what a name means once the whole graph has run). A training plan
/// also has its <see cref="Backward"/> schedule.
/// </summary>
public sealed record ExecutionPlan
{
    /// <summary>Every value (blob) of the graph, by id.</summary>
    public required IReadOnlyList<PlanValue> Values { get; init; }

    /// <summary>The steps in execution order.</summary>
    public required IReadOnlyList<PlanStep> Steps { get; init; }

    /// <summary>The network input [N, 3, H, W].</summary>
    public required PlanValue Input { get; init; }

    /// <summary>The location head's output [N, P * 4].</summary>
    public required PlanValue Loc { get; init; }

    /// <summary>The confidence head's output [N, P * C].</summary>
    public required PlanValue Conf { get; init; }
    /// <summary>Blob name -> the value it holds after the last layer that writes it.</summary>
    public required IReadOnlyDictionary<string, PlanValue> Blobs { get; init; }
    /// <summary>Values kept alive to the end of Run: the outputs and the requested captures.</summary>
    public required IReadOnlySet<PlanValue> Pinned { get; init; }
    /// <summary>Images per run.</summary>
    public required int Batch { get; init; }

    /// <summary>Inference or training.</summary>
    public PlanMode Mode { get; init; } = PlanMode.Inference;

    /// <summary>The backward pass of a training plan: the steps replayed in reverse, and the values they add.</summary>
    public BackwardPlan? Backward { get; init; }

    /// <summary>The value a blob name holds after the whole graph has run; an unknown name is an <see cref="ArgumentException"/>.</summary>
    public PlanValue Blob(string name) => Blobs.TryGetValue(name, out var v) ? v
        : throw new ArgumentException($"the graph has no blob named '{name}'");

    /// <summary>The step index of each value's producer (-1 for the input) and of its last reader (Steps.Count
    /// when pinned), over the value and all values sharing its storage: the storage's live interval.</summary>
    public (int First, int Last) Lifetime(PlanValue root)
    {
        int first = int.MaxValue, last = -1;
        for (int s = 0; s < Steps.Count; s++)
        {
            var step = Steps[s];
            if (step.Output.Root == root) { first = Math.Min(first, s); last = Math.Max(last, s); }
            if (step.Inputs.Any(v => v.Root == root)) last = Math.Max(last, s);
        }
        if (root == Input.Root) first = -1;
        if (Pinned.Any(v => v.Root == root)) last = Steps.Count;
        if (first == int.MaxValue) first = last;
        return (first, last);
    }
}
