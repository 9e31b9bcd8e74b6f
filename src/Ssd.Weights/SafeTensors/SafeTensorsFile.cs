using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Ssd.Weights.IO;
using Ssd.Weights.Tensors;

namespace Ssd.Weights.SafeTensors;

/// <summary>
/// The safetensors format (huggingface/safetensors): an 8-byte little-endian header length N, N bytes of UTF-8 JSON
/// (name -> {dtype, shape, data_offsets: [begin, end)} plus an optional "__metadata__" string -> string map), padded
/// with spaces so the data starts 8-byte aligned, then the tensors' bytes. Offsets are relative to the data start and
/// must tile it exactly: in range, sizes matching dtype x shape, no overlaps and no holes.
/// </summary>
public sealed class SafeTensorsFile
{
    /// <summary>The reference implementation's cap on the JSON header (100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;
    /// <summary>The header key of the string-to-string metadata map.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>The header's "__metadata__" map (empty when absent); a model file keeps its description there.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>Tensors in header order.</summary>
    public IReadOnlyDictionary<string, TensorData> Tensors { get; }

    /// <summary>A file's contents held in memory.</summary>
    /// <param name="tensors">The tensors by name.</param>
    /// <param name="metadata">The metadata map.</param>
    public SafeTensorsFile(IReadOnlyDictionary<string, TensorData> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Tensors = tensors;
        Metadata = metadata;
    }

    // Plain arrays searched in order, and no Dictionary<string, TensorDType>, value tuples or Linq over them in the
    // reader: the framework's generic code instantiated over an Ssd value type is JIT-compiled at every start
    // (ReadyToRun cannot hold it), ~45 methods of a one-image `ssd detect` here (issue 13).
    private static readonly string[] DTypeNames = ["F32", "F16", "BF16", "F64", "I64", "I32", "U8", "I8", "BOOL"];
    private static readonly TensorDType[] DTypeValues =
    [
        TensorDType.Float32, TensorDType.Float16, TensorDType.BFloat16, TensorDType.Float64, TensorDType.Int64,
        TensorDType.Int32, TensorDType.UInt8, TensorDType.Int8, TensorDType.Bool,
    ];

    private static string DTypeName(TensorDType t)
    {
        for (int i = 0; i < DTypeValues.Length; i++) if (DTypeValues[i] == t) return DTypeNames[i];
        throw new InvalidOperationException($"no safetensors name for {t}");
    }

    private static bool TryParseDType(string name, out TensorDType dtype)
    {
        int i = Array.IndexOf(DTypeNames, name);
        dtype = i >= 0 ? DTypeValues[i] : default;
        return i >= 0;
    }

    /// <summary>One tensor's header entry, in file order (<see cref="Index"/>).</summary>
    private sealed record Entry(string Name, TensorDType DType, int[] Shape, long Begin, long End, int Index);

    // ---------------------------------------------------------------- reading

    /// <summary>Reads and checks a safetensors file.</summary>
    /// <param name="path">The file.</param>
    /// <param name="budgets">Resource budgets (default: <see cref="ReaderBudgets.Default"/>): the header size and the tensor count.</param>
    /// <exception cref="InvalidDataException">The header is malformed, or the offsets do not tile the data exactly.</exception>
    /// <exception cref="ReaderBudgetException">A budget would be exceeded.</exception>
    public static SafeTensorsFile Read(string path, ReaderBudgets? budgets = null)
    {
        using var file = InputFile.OpenRead(path);
        return Read(file, Path.GetFileName(path), budgets);
    }

    /// <summary>Reads and checks a safetensors file from a stream (from its current position).</summary>
    /// <param name="stream">The file's bytes; a stream that cannot seek is read into memory within the "stream.bytes" budget.</param>
    /// <param name="name">How to name the file in messages.</param>
    /// <param name="budgets">Resource budgets (default: <see cref="ReaderBudgets.Default"/>): the header size and the tensor count.</param>
    /// <exception cref="InvalidDataException">The header is malformed, or the offsets do not tile the data exactly.</exception>
    /// <exception cref="ReaderBudgetException">A budget would be exceeded.</exception>
    public static SafeTensorsFile Read(Stream stream, string name = "stream", ReaderBudgets? budgets = null)
    {
        budgets ??= ReaderBudgets.Default;
        if (!stream.CanSeek) stream = new MemoryStream(InputFile.ReadAll(stream, name, "stream.bytes", budgets.StreamBytes), writable: false);
        long length = stream.Length - stream.Position;
        Span<byte> n8 = stackalloc byte[8];
        if (length < 8 || stream.ReadAtLeast(n8, 8, throwOnEndOfStream: false) < 8)
            throw new InvalidDataException($"not a safetensors file: {name} is shorter than the 8-byte header length");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(n8);
        if (headerLength < 2 || headerLength > (ulong)length - 8)
            throw new InvalidDataException($"not a safetensors file: {name} declares a {headerLength}-byte header in a {length}-byte file");
        if ((long)headerLength > Math.Min(budgets.SafeTensorsHeaderBytes, MaxHeaderBytes))
            throw new ReaderBudgetException(name, "safetensors.header", Math.Min(budgets.SafeTensorsHeaderBytes, MaxHeaderBytes), (long)headerLength, "the JSON header");
        var header = new byte[headerLength];
        stream.ReadExactly(header);
        if (header[0] != (byte)'{') throw new InvalidDataException($"not a safetensors file: {name}'s header does not start with '{{'");
        // System.Text.Json checks string contents' UTF-8 only when they are read, and then not as a JsonException.
        if (!System.Text.Unicode.Utf8.IsValid(header)) throw new InvalidDataException($"{name}: header is not valid UTF-8");
        long dataLength = length - 8 - (long)headerLength;

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var entries = new List<Entry>();
        try
        {
            using var doc = JsonDocument.Parse(header.AsMemory().TrimEnd((byte)' '), new JsonDocumentOptions { MaxDepth = 8 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{name}: header is not a JSON object");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (ReaderErrors.HasControlCharacters(p.Name)) throw new InvalidDataException($"{name}: header name '{ReaderErrors.Printable(p.Name)}' holds control characters");
                if (!seen.Add(p.Name)) throw new InvalidDataException($"{name}: header names '{p.Name}' twice");
                if (p.Name == MetadataKey) ReadMetadata(p.Value, metadata, name);
                else if (entries.Count >= budgets.Tensors)
                    throw new ReaderBudgetException(name, "tensors.count", budgets.Tensors, entries.Count + 1, "the header", "tensors (at least)");
                else entries.Add(ReadEntry(p.Name, p.Value, name, entries.Count));
            }
        }
        catch (JsonException e) { throw new InvalidDataException($"{name}: header is not valid JSON: {ReaderErrors.Printable(e.Message, 300)}", e); }

        // The tensors must tile [0, dataLength) exactly.
        long next = 0;
        var byOffset = entries.ToArray();
        // By begin, then end, then file order (a stable sort's order).
        Array.Sort(byOffset, (a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End != b.End ? a.End.CompareTo(b.End) : a.Index.CompareTo(b.Index));
        foreach (var e in byOffset)
        {
            if (e.Begin != next)
                throw new InvalidDataException($"{name}: tensor '{e.Name}' starts at {e.Begin}, expected {next} (tensors must be contiguous, without overlaps or holes)");
            next = e.End;
        }
        if (next != dataLength)
            throw new InvalidDataException($"{name}: tensors cover {next} bytes of data but the file holds {dataLength} (truncated or trailing bytes)");

        long dataStart = stream.Position;
        var tensors = new OrderedDictionary<string, TensorData>(StringComparer.Ordinal);
        foreach (var e in entries)
        {
            var bytes = GC.AllocateUninitializedArray<byte>((int)(e.End - e.Begin));
            stream.Position = dataStart + e.Begin;
            stream.ReadExactly(bytes);
            tensors[e.Name] = new TensorData(e.Name, e.Shape, e.DType, bytes);
        }
        return new SafeTensorsFile(tensors, metadata);
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string name)
    {
        if (value.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{name}: {MetadataKey} is not an object");
        foreach (var m in value.EnumerateObject())
        {
            if (m.Value.ValueKind != JsonValueKind.String) throw new InvalidDataException($"{name}: metadata '{m.Name}' is not a string");
            if (!metadata.TryAdd(m.Name, m.Value.GetString()!)) throw new InvalidDataException($"{name}: metadata names '{m.Name}' twice");
        }
    }

    private static Entry ReadEntry(string tensor, JsonElement v, string name, int index)
    {
        string where = $"{name}: tensor '{tensor}'";
        if (v.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{where} is not an object");
        if (!v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw new InvalidDataException($"{where} has no dtype");
        if (!TryParseDType(dt.GetString()!, out var dtype)) throw new InvalidDataException($"{where} has unsupported dtype '{dt.GetString()}'");
        var shape = IntArray(v, "shape", where, -1);
        var offsets = IntArray(v, "data_offsets", where, 2);
        foreach (long d in shape)
            if (d < 0 || d > int.MaxValue) throw new InvalidDataException($"{where} has a bad shape [{string.Join(",", shape)}]");
        long bytes = TensorData.ByteCount(shape, dtype, where);
        long begin = offsets[0], end = offsets[1];
        if (begin < 0 || end < begin) throw new InvalidDataException($"{where} has bad data_offsets [{begin}, {end}]");
        if (end - begin != bytes)
            throw new InvalidDataException($"{where}: data_offsets span {end - begin} bytes, shape [{string.Join(",", shape)}] of {dtype} needs {bytes}");
        var dims = new int[shape.Length];
        for (int i = 0; i < dims.Length; i++) dims[i] = (int)shape[i];
        return new Entry(tensor, dtype, dims, begin, end, index);
    }

    private static long[] IntArray(JsonElement v, string property, string where, int length)
    {
        if (!v.TryGetProperty(property, out var a) || a.ValueKind != JsonValueKind.Array || (length >= 0 && a.GetArrayLength() != length) || a.GetArrayLength() > 64)
            throw new InvalidDataException($"{where} has no valid {property}");
        var values = new long[a.GetArrayLength()];
        int k = 0;
        foreach (var x in a.EnumerateArray())
            values[k++] = x.ValueKind == JsonValueKind.Number && x.TryGetInt64(out long l)
                ? l : throw new InvalidDataException($"{where}: {property} holds a non-integer");
        return values;
    }

    // ---------------------------------------------------------------- writing

    /// <summary>
    /// Writes the tensors (in the given order) and metadata through <see cref="AtomicFile"/>, so a failure never leaves
    /// a half-written file at <paramref name="path"/>. It is not fsynced: that guards only against power loss, and
    /// waiting for the disk was a third of the time of a full SSD300 conversion.
    /// </summary>
    public static void Write(string path, IEnumerable<TensorData> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in list)
        {
            if (string.IsNullOrEmpty(t.Name) || t.Name == MetadataKey) throw new ArgumentException($"tensor name '{t.Name}' is not allowed in safetensors");
            if (!names.Add(t.Name)) throw new ArgumentException($"tensor name '{t.Name}' appears twice");
        }
        var header = Header(list, metadata);
        // One stream, the tensors written straight from their arrays (no buffer copy). Reserving the whole size up
        // front halves the write time of a large model (the file system allocates once) and fails early on a full disk.
        long total = 8 + header.Length + list.Sum(t => t.Bytes.LongLength);
        AtomicFile.Write(path, f =>
        {
            var prefix = new byte[8 + header.Length];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
            header.CopyTo(prefix, 8);
            f.Write(prefix);
            foreach (var t in list) f.Write(t.Bytes);
        }, flushToDisk: false, preallocate: total);
    }

    /// <summary>The JSON header, metadata first, padded with spaces to a multiple of 8 bytes.</summary>
    private static byte[] Header(List<TensorData> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new MemoryStream();
        // Relaxed escaping keeps a JSON document stored in metadata readable; the header is never embedded in HTML.
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in tensors)
            {
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", DTypeName(t.DType));
                w.WriteStartArray("shape");
                foreach (var d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset += t.Bytes.LongLength);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        int pad = (int)(-buffer.Length & 7);
        for (int i = 0; i < pad; i++) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }
}
