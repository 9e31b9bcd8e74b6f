using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Ssd.Weights.Tensors;

namespace Ssd.Weights.Model;

/// <summary>
/// A converted model on disk: a safetensors file whose tensors are the model's float32 weights and whose
/// string metadata holds the description JSON under the key "ssd.model".
/// </summary>
public static class ModelFile
{
    public const string DescriptionKey = "ssd.model";

    public static void Save(string path, ModelDescription description, IReadOnlyDictionary<string, TensorData> tensors)
    {
        description.Validate(tensors.Keys.ToList());
        var metadata = new Dictionary<string, string> { [DescriptionKey] = description.ToJson() };
        // Integration point: replace with the shared SafeTensorsFile writer once merged.
        MinimalSafeTensors.Write(path, tensors.Values.OrderBy(t => t.Name, StringComparer.Ordinal).ToList(), metadata);
    }

    public static (ModelDescription Description, IReadOnlyDictionary<string, TensorData> Tensors) Load(string path)
    {
        // Integration point: replace with the shared SafeTensorsFile reader once merged.
        var (tensors, metadata) = MinimalSafeTensors.Read(path);
        if (!metadata.TryGetValue(DescriptionKey, out var json))
            throw new InvalidDataException($"{path}: safetensors file has no '{DescriptionKey}' metadata; convert the checkpoint with `ssd convert` first");
        var description = ModelDescription.FromJson(json);
        description.Validate(tensors.Keys.ToList());
        return (description, tensors);
    }
}

/// <summary>
/// Just enough safetensors (8-byte little-endian header length, JSON header, raw data) for ModelFile until the
/// full reader/writer is merged. Writes go to a temporary file that is renamed into place.
/// </summary>
internal static class MinimalSafeTensors
{
    private static readonly Dictionary<TensorDType, string> Codes = new()
    {
        [TensorDType.Float32] = "F32", [TensorDType.Float16] = "F16", [TensorDType.BFloat16] = "BF16", [TensorDType.Float64] = "F64",
        [TensorDType.Int64] = "I64", [TensorDType.Int32] = "I32", [TensorDType.UInt8] = "U8", [TensorDType.Int8] = "I8", [TensorDType.Bool] = "BOOL",
    };

    public static void Write(string path, IReadOnlyList<TensorData> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        var header = new MemoryStream();
        using (var w = new Utf8JsonWriter(header))
        {
            w.WriteStartObject();
            w.WriteStartObject("__metadata__");
            foreach (var (k, v) in metadata) w.WriteString(k, v);
            w.WriteEndObject();
            long offset = 0;
            foreach (var t in tensors)
            {
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", Codes[t.DType]);
                w.WriteStartArray("shape");
                foreach (var d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + t.Bytes.LongLength);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += t.Bytes.LongLength;
            }
            w.WriteEndObject();
        }
        while (header.Length % 8 != 0) header.WriteByte((byte)' ');

        var full = Path.GetFullPath(path);
        var temp = full + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var f = new FileStream(temp, FileMode.Create, FileAccess.Write))
            {
                Span<byte> len = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
                f.Write(len);
                header.Position = 0;
                header.CopyTo(f);
                foreach (var t in tensors) f.Write(t.Bytes);
            }
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    public static (Dictionary<string, TensorData> Tensors, Dictionary<string, string> Metadata) Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        try { return Parse(bytes); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or OverflowException or KeyNotFoundException or ArgumentException)
        {
            throw new InvalidDataException($"{path}: not a valid safetensors file: {e.Message}", e);
        }
    }

    private static (Dictionary<string, TensorData>, Dictionary<string, string>) Parse(byte[] bytes)
    {
        if (bytes.Length < 8) throw new InvalidDataException("file shorter than the 8-byte header length");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLength > (ulong)(bytes.Length - 8)) throw new InvalidDataException($"header length {headerLength} exceeds the file");
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
        var dataStart = 8 + (long)headerLength;
        var tensors = new Dictionary<string, TensorData>();
        var metadata = new Dictionary<string, string>();
        var byCode = Codes.ToDictionary(kv => kv.Value, kv => kv.Key);
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__")
            {
                foreach (var m in p.Value.EnumerateObject()) metadata[m.Name] = m.Value.GetString() ?? "";
                continue;
            }
            var dtype = byCode.TryGetValue(p.Value.GetProperty("dtype").GetString() ?? "", out var dt)
                ? dt : throw new InvalidDataException($"tensor '{p.Name}': unknown dtype");
            var shape = p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var off = p.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            if (off.Length != 2 || off[0] < 0 || off[1] < off[0] || dataStart + off[1] > bytes.Length)
                throw new InvalidDataException($"tensor '{p.Name}': data offsets outside the file");
            tensors[p.Name] = new TensorData(p.Name, shape, dtype, bytes.AsSpan((int)(dataStart + off[0]), (int)(off[1] - off[0])).ToArray());
        }
        return (tensors, metadata);
    }
}
