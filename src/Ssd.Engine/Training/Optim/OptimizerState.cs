using System.Runtime.InteropServices;
using System.Text.Json;
using Ssd.Weights.SafeTensors;
using Ssd.Weights.Tensors;

namespace Ssd.Engine.Training.Optim;

/// <summary>
/// What an optimizer carries from step to step, for a checkpoint: its kind, step count, hyper-parameters, each
/// group's current rate, and per parameter its buffers (key "PARAM/BUFFER": momentum_buffer, history, exp_avg,
/// exp_avg_sq, max_exp_avg_sq) and scalars ("PARAM/step").
/// </summary>
public sealed record OptimizerState(string Kind, long Steps, IReadOnlyDictionary<string, double> Hyper, double[] GroupLrs,
    IReadOnlyDictionary<string, float[]> Buffers, IReadOnlyDictionary<string, double>? ScalarValues = null)
{
    /// <summary>The per-parameter scalars ("PARAM/step"); empty when there are none.</summary>
    public IReadOnlyDictionary<string, double> Scalars => ScalarValues ?? new Dictionary<string, double>();

    /// <summary>Metadata key of the JSON part in a safetensors checkpoint.</summary>
    public const string MetadataKey = "ssd.optimizer";

    private sealed record Header(string Kind, long Steps, Dictionary<string, double> Hyper, double[] GroupLrs, Dictionary<string, double> Scalars);

    /// <summary>The buffers as float32 tensors named PREFIX + key, and the rest as one JSON metadata value.</summary>
    public (List<TensorData> Tensors, string Metadata) ToTensors(string prefix = "optimizer/")
    {
        var tensors = Buffers.OrderBy(b => b.Key, StringComparer.Ordinal)
            .Select(b => new TensorData(prefix + b.Key, [b.Value.Length], TensorDType.Float32, MemoryMarshal.AsBytes(b.Value.AsSpan()).ToArray()))
            .ToList();
        var header = new Header(Kind, Steps, new(Hyper), GroupLrs, new(Scalars));
        return (tensors, JsonSerializer.Serialize(header, ModelJson));
    }

    /// <summary>Reads what <see cref="ToTensors"/> wrote; a malformed part gives InvalidDataException.</summary>
    public static OptimizerState FromTensors(IReadOnlyDictionary<string, TensorData> tensors, string metadata, string prefix = "optimizer/")
    {
        Header? h;
        try { h = JsonSerializer.Deserialize<Header>(metadata, ModelJson); }
        catch (JsonException e) { throw new InvalidDataException($"optimizer state: metadata is not valid JSON ({e.Message})", e); }
        if (h is null || string.IsNullOrEmpty(h.Kind) || h.GroupLrs is null || h.Hyper is null || h.Scalars is null)
            throw new InvalidDataException("optimizer state: metadata lacks kind, hyper-parameters, group rates or scalars");
        if (h.Steps < 0 || h.GroupLrs.Any(lr => !(lr >= 0 && double.IsFinite(lr)))) throw new InvalidDataException("optimizer state: negative step count or a group rate that is not finite");
        var buffers = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var (name, t) in tensors)
        {
            if (!name.StartsWith(prefix, StringComparison.Ordinal)) continue;
            if (t.DType != TensorDType.Float32 || t.Shape.Length != 1) throw new InvalidDataException($"optimizer state: tensor '{name}' is not a float32 vector");
            buffers[name[prefix.Length..]] = t.ToFloat32();
        }
        return new OptimizerState(h.Kind, h.Steps, h.Hyper, h.GroupLrs, buffers, h.Scalars);
    }

    /// <summary>Writes the state alone as a safetensors file (atomically: a failure leaves no half file).</summary>
    public void Save(string path)
    {
        var (tensors, meta) = ToTensors();
        SafeTensorsFile.Write(path, tensors, new Dictionary<string, string> { [MetadataKey] = meta });
    }

    /// <summary>Reads a state written by <see cref="Save"/>.</summary>
    /// <param name="path">The safetensors file.</param>
    /// <exception cref="InvalidDataException">The file is not an optimizer state or is damaged.</exception>
    public static OptimizerState Load(string path)
    {
        var file = SafeTensorsFile.Read(path);
        if (!file.Metadata.TryGetValue(MetadataKey, out var meta)) throw new InvalidDataException($"{path}: no '{MetadataKey}' metadata (not an optimizer state)");
        return FromTensors(file.Tensors, meta);
    }

    private static readonly JsonSerializerOptions ModelJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
