using Ssd.Weights.Tensors;

namespace Ssd.Engine.Graph;

/// <summary>
/// A model's tensors as float32 arrays, converted once and shared by every plan and network built from them (a
/// detector's networks of all batch and input sizes read the same arrays). The arrays are the weights: edit one in
/// place (<c>network.Weights["conv1.weight"][i] = v</c>), then call <see cref="Network.SsdNetwork.InvalidateWeights"/>
/// so every cache derived from it (folded BatchNorm, packed GEMM panels, Winograd-transformed filters, device copies) is
/// rebuilt before the next forward pass.
/// </summary>
public sealed class ModelWeights
{
    private readonly Dictionary<string, (int[] Shape, float[] Values)> tensors;

    private ModelWeights(Dictionary<string, (int[] Shape, float[] Values)> tensors) => this.tensors = tensors;

    /// <summary>Converts every tensor to float32 (the tensors themselves are not kept).</summary>
    public static ModelWeights From(IReadOnlyDictionary<string, TensorData> tensors) =>
        new(tensors.ToDictionary(kv => kv.Key, kv => (kv.Value.Shape.ToArray(), kv.Value.ToFloat32())));

    /// <summary>New weights of the given shapes, each filled by <paramref name="initialise"/> (zeros when null).</summary>
    public static ModelWeights Create(IEnumerable<(string Name, int[] Shape)> shapes, Action<string, int[], float[]>? initialise = null)
    {
        var d = new Dictionary<string, (int[], float[])>();
        foreach (var (name, shape) in shapes)
        {
            var values = new float[checked(shape.Aggregate(1L, (a, b) => a * b))];
            initialise?.Invoke(name, shape, values);
            d[name] = (shape.ToArray(), values);
        }
        return new ModelWeights(d);
    }

    /// <summary>The mutable float32 values of one tensor.</summary>
    public float[] this[string name] => tensors.TryGetValue(name, out var t) ? t.Values
        : throw new KeyNotFoundException($"the model has no tensor named '{name}'");

    /// <summary>A tensor's shape; an unknown name is a <see cref="KeyNotFoundException"/>.</summary>
    public int[] Shape(string name) => this.tensors.TryGetValue(name, out var t) ? t.Shape
        : throw new KeyNotFoundException($"the model has no tensor named '{name}'");

    /// <summary>Every tensor name.</summary>
    public IReadOnlyCollection<string> Names => tensors.Keys;

    /// <summary>True when the model has a tensor of that name.</summary>
    public bool Contains(string name) => tensors.ContainsKey(name);

    /// <summary>The current values as float32 tensors (e.g. to save a trained model).</summary>
    public Dictionary<string, TensorData> ToTensors() => tensors.ToDictionary(kv => kv.Key, kv => new TensorData(kv.Key, kv.Value.Shape.ToArray(),
        TensorDType.Float32, System.Runtime.InteropServices.MemoryMarshal.AsBytes(kv.Value.Values.AsSpan()).ToArray()));
}
