using Ssd.Kernels.Core;

namespace Ssd.Engine.Graph;

/// <summary>
/// One value of the plan: a blob name as bound at one point of the layer order (Caffe's in-place layers rebind a
/// name, so "conv1_1" before and after relu1_1 are two values). A value either owns storage or shares its root's
/// (Flatten/Reshape views, in-place ReLU).
/// </summary>
public sealed class PlanValue(int id, string name, int[] shape)
{
    /// <summary>The value's index in <see cref="ExecutionPlan.Values"/>.</summary>
    public int Id { get; } = id;

    /// <summary>The blob name of the layer output it is.</summary>
    public string Name { get; } = name;

    /// <summary>Its dimensions (N first).</summary>
    public int[] Shape { get; } = shape;

    /// <summary>How many floats it holds.</summary>
    public long Count => Shape.Aggregate(1L, (p, d) => p * d);

    /// <summary>The value whose storage this one reuses, or null when it owns its storage.</summary>
    public PlanValue? AliasOf { get; internal set; }
    /// <summary>The value that owns the storage (itself unless it is an alias).</summary>
    public PlanValue Root => AliasOf?.Root ?? this;

    /// <summary>The shape as NCHW (a 4-D value only).</summary>
    public TensorShape Nchw => Shape.Length == 4 ? new TensorShape(Shape[0], Shape[1], Shape[2], Shape[3])
        : throw new InvalidOperationException($"blob '{Name}' has shape {ShapeText}, not NCHW");

    /// <summary>The shape as text, e.g. [1, 512, 38, 38].</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    /// <summary>name#id [shape].</summary>
    public override string ToString() => $"{Name}#{Id} {ShapeText}";
}
