using Ssd.Kernels.Core;

namespace Ssd.Engine.Graph;

/// <summary>
/// One value of the plan: a blob name as bound at one point of the layer order (Caffe's in-place layers rebind a
/// name, so "conv1_1" before and after relu1_1 are two values). A value either owns storage or shares its root's
/// (Flatten/Reshape views, in-place ReLU).
/// </summary>
public sealed class PlanValue(int id, string name, int[] shape)
{
    public int Id { get; } = id;
    public string Name { get; } = name;
    public int[] Shape { get; } = shape;
    public long Count => Shape.Aggregate(1L, (p, d) => p * d);

    /// <summary>The value whose storage this one reuses, or null when it owns its storage.</summary>
    public PlanValue? AliasOf { get; internal set; }
    public PlanValue Root => AliasOf?.Root ?? this;

    /// <summary>The shape as NCHW (a 4-D value only).</summary>
    public TensorShape Nchw => Shape.Length == 4 ? new TensorShape(Shape[0], Shape[1], Shape[2], Shape[3])
        : throw new InvalidOperationException($"blob '{Name}' has shape {ShapeText}, not NCHW");

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
    public override string ToString() => $"{Name}#{Id} {ShapeText}";
}
