using System.Buffers.Binary;
using System.Numerics;
using Ssd.Weights.Tensors;

namespace Ssd.Weights.Torch;

/// <summary>
/// Reads the tensors of a PyTorch checkpoint (torch.save of a state_dict) without running Python or any pickled code.
/// Both formats: the zip archive of torch &gt;= 1.6 (&lt;folder&gt;/data.pkl plus one &lt;folder&gt;/data/&lt;key&gt; entry per
/// storage) and the legacy stream (ssd.pytorch's releases): magic number, protocol version and sys_info pickles,
/// the object pickle, the list of storage keys, then each storage as an 8-byte element count and its raw bytes.
/// Strided and offset views are copied out contiguously; {"state_dict": ...} and {"model": ...} wrappers are opened.
/// Throws <see cref="InvalidDataException"/> for anything malformed, <see cref="UnsafePickleException"/> for a
/// pickle that names a global outside the allow-list and <see cref="ReaderBudgetException"/> when a file asks for
/// more memory than <see cref="ReaderBudgets"/> allows: the zip directory, the pickle and every storage's size are
/// checked (against the entries, the file and the budgets) before any storage is read.
/// </summary>
public static class TorchCheckpoint
{
    private static readonly byte[] LegacyMagicPickle = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
    private static readonly BigInteger LegacyMagic = BigInteger.Parse("1950a86a20f9469cfc6c", System.Globalization.NumberStyles.HexNumber);
    private const long LegacyProtocolVersion = 1001;

    /// <summary>Keys under which training scripts nest the state dict, tried in this order.</summary>
    private static readonly string[] NestedKeys = ["state_dict", "model_state_dict", "model", "net"];

    /// <summary>Reads the state dict of a PyTorch checkpoint file (zip or legacy format) without executing any of its code.</summary>
    /// <param name="path">The .pth / .pt file.</param>
    /// <param name="budgets">Resource budgets (default: <see cref="ReaderBudgets.Default"/>).</param>
    /// <returns>The tensors by state-dict key, in the file's order.</returns>
    /// <exception cref="InvalidDataException">The file is not a checkpoint, is damaged, or holds no state dict.</exception>
    /// <exception cref="UnsafePickleException">The pickle names code outside the allow-list; nothing ran.</exception>
    /// <exception cref="ReaderBudgetException">A budget would be exceeded.</exception>
    public static IReadOnlyDictionary<string, TensorData> Load(string path, ReaderBudgets? budgets = null)
    {
        using var file = InputFile.OpenRead(path);
        return Load(file, Path.GetFileName(path), budgets);
    }

    /// <summary>Reads the state dict of a PyTorch checkpoint from a stream (read from its current position).</summary>
    /// <param name="stream">The checkpoint's bytes; a stream that cannot seek is read into memory within the "stream.bytes" budget.</param>
    /// <param name="name">How to name the file in messages.</param>
    /// <param name="budgets">Resource budgets (default: <see cref="ReaderBudgets.Default"/>).</param>
    /// <returns>The tensors by state-dict key.</returns>
    /// <exception cref="InvalidDataException">The bytes are not a checkpoint, are damaged, or hold no state dict.</exception>
    /// <exception cref="UnsafePickleException">The pickle names code outside the allow-list; nothing ran.</exception>
    /// <exception cref="ReaderBudgetException">A budget would be exceeded.</exception>
    public static IReadOnlyDictionary<string, TensorData> Load(Stream stream, string name = "stream", ReaderBudgets? budgets = null)
    {
        budgets ??= ReaderBudgets.Default;
        if (!stream.CanSeek)
            stream = new MemoryStream(InputFile.ReadAll(stream, name, "stream.bytes", budgets.StreamBytes), writable: false);
        long begin = stream.Position;
        Span<byte> head = stackalloc byte[16];
        int got = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        head = head[..got];
        stream.Position = begin;
        if (head.StartsWith("PK\x03\x04"u8) || head.StartsWith("PK\x05\x06"u8)) return LoadZip(stream, name, budgets);
        if (got >= 2 + LegacyMagicPickle.Length && head[0] == 0x80 && head[2..].StartsWith(LegacyMagicPickle)) return LoadLegacy(stream, name, budgets);
        throw new InvalidDataException(
            $"not a PyTorch checkpoint: {name} starts with [{Convert.ToHexString(head[..Math.Min(got, 8)])}], neither a zip archive nor the legacy magic number");
    }

    // ---------------------------------------------------------------- zip format

    private static IReadOnlyDictionary<string, TensorData> LoadZip(Stream stream, string name, ReaderBudgets budgets)
    {
        var zip = ZipDirectory.Open(stream, name, budgets);
        var pickles = zip.Entries.Where(e => e.Name.EndsWith("/data.pkl", StringComparison.Ordinal) && e.Name.Count(c => c == '/') == 1).ToList();
        if (pickles.Count != 1)
            throw new InvalidDataException($"not a PyTorch checkpoint: zip archive {name} has {pickles.Count} '<folder>/data.pkl' entries, expected 1");
        string folder = pickles[0].Name[..^"data.pkl".Length];
        if (zip.TryGet(folder + "byteorder", out var order))
        {
            if (order.Size > 16) throw new InvalidDataException($"{name}: byteorder entry of {order.Size} bytes");
            zip.Reserve(order.Size, $"zip entry '{order.Name}'");
            var bo = System.Text.Encoding.ASCII.GetString(zip.Read(order));
            if (bo != "little") throw new InvalidDataException($"{name}: checkpoint byte order is '{bo}', only little-endian is supported");
        }

        var pickleEntry = pickles[0];
        if (pickleEntry.Size > budgets.PickleBytes)
            throw new ReaderBudgetException(name, "pickle.bytes", budgets.PickleBytes, pickleEntry.Size, $"zip entry '{pickleEntry.Name}'");
        zip.Reserve(pickleEntry.Size, $"zip entry '{pickleEntry.Name}'");
        var pickle = zip.Read(pickleEntry);

        // The pickle only names storages; each is checked against its entry and all against the budget before
        // the first is read.
        var storages = new OrderedDictionary<string, TorchStorage>(StringComparer.Ordinal);
        object? PersistentLoad(object? id) => ParseStorageId(id, name, legacy: false, storages, budgets).Value;
        var root = new Unpickler(TensorGlobals(name), PersistentLoad, budgets, name).Load(pickle);
        var dict = FindTensorDict(root, name, 0, budgets)
            ?? throw new InvalidDataException($"{name}: checkpoint holds no tensor dict (top level is {Summarize(root)})");

        var used = dict.Entries.Select(e => ((TorchTensorRef)e.Value!).Storage).Distinct().ToList();
        long total = 0;
        foreach (var storage in used)
        {
            var key = storage.Key;
            if (!zip.TryGet(folder + "data/" + key, out var entry))
                throw new InvalidDataException($"{name}: storage '{key}' has no entry '{folder}data/{key}' in the archive");
            if (entry.Size < storage.ByteCount)
                throw new InvalidDataException($"{name}: truncated storage '{key}': entry '{entry.Name}' holds {entry.Size} bytes, the pickle says {storage.ByteCount}");
            total += storage.ByteCount;
        }
        zip.Reserve(total, $"{used.Count} storages");
        foreach (var storage in used)
            storage.Bytes = zip.Read(zip.TryGet(folder + "data/" + storage.Key, out var entry) ? entry : throw new InvalidOperationException(), storage.ByteCount);
        return Collect(dict, name);
    }

    // ---------------------------------------------------------------- legacy format

    private static IReadOnlyDictionary<string, TensorData> LoadLegacy(Stream stream, string name, ReaderBudgets budgets)
    {
        var plain = new Unpickler(new Dictionary<string, PickleCall?>(), budgets: budgets, name: name);
        if (plain.Load(stream) is not BigInteger magic || magic != LegacyMagic)
            throw new InvalidDataException($"not a PyTorch checkpoint: {name} has a wrong legacy magic number");
        if (plain.Load(stream) is not long version || version != LegacyProtocolVersion)
            throw new InvalidDataException($"{name}: legacy protocol version is not {LegacyProtocolVersion}");
        if (plain.Load(stream) is not PickleDict sysInfo)
            throw new InvalidDataException($"{name}: legacy sys_info is not a dict");
        if (sysInfo.TryGet("little_endian", out var little) && little is false)
            throw new InvalidDataException($"{name}: checkpoint was written big-endian, only little-endian is supported");

        var storages = new OrderedDictionary<string, TorchStorage>(StringComparer.Ordinal);
        object? PersistentLoad(object? id) => ParseStorageId(id, name, legacy: true, storages, budgets).Value;
        var root = new Unpickler(TensorGlobals(name), PersistentLoad, budgets, name).Load(stream);
        var dict = FindTensorDict(root, name, 0, budgets)
            ?? throw new InvalidDataException($"{name}: checkpoint holds no tensor dict (top level is {Summarize(root)})");

        if (plain.Load(stream) is not List<object?> keys)
            throw new InvalidDataException($"{name}: legacy storage key list is missing or not a list");
        Span<byte> count = stackalloc byte[8];
        foreach (var k in keys)
        {
            if (k is not string key || !storages.TryGetValue(key, out var storage))
                throw new InvalidDataException($"{name}: legacy storage key list names '{k}', which the pickle never used");
            if (stream.ReadAtLeast(count, 8, throwOnEndOfStream: false) < 8)
                throw new InvalidDataException($"{name}: truncated file: storage '{key}' has no element count");
            long n = BinaryPrimitives.ReadInt64LittleEndian(count);
            if (n != storage.ElementCount)
                throw new InvalidDataException($"{name}: storage '{key}' holds {n} elements, the pickle said {storage.ElementCount}");
            if (storage.ByteCount > stream.Length - stream.Position)
                throw new InvalidDataException($"{name}: truncated file: storage '{key}' needs {storage.ByteCount} bytes, {stream.Length - stream.Position} left");
            if (storage.Bytes is not null) throw new InvalidDataException($"{name}: legacy storage key list names '{key}' twice");
            var bytes = GC.AllocateUninitializedArray<byte>((int)storage.ByteCount);
            stream.ReadExactly(bytes);
            storage.Bytes = bytes;
        }
        return Collect(dict, name);
    }

    // ---------------------------------------------------------------- the pickled objects

    /// <summary>
    /// ('storage', storage type, key, location, element count) — plus, in the legacy format, view metadata
    /// (view key, offset, count) or None. Returns the storage and what the pickle sees: the storage itself or a
    /// <see cref="TorchStorageView"/> of it.
    /// </summary>
    private static (TorchStorage Root, object Value) ParseStorageId(object? id, string name, bool legacy,
        OrderedDictionary<string, TorchStorage> storages, ReaderBudgets budgets)
    {
        if (id is not PickleTuple t || t.Count < 5 || t[0] is not "storage")
            throw new InvalidDataException($"{name}: persistent id is {Unpickler.Describe(id)}, expected ('storage', type, key, location, size)");
        if (t[1] is not PickleGlobal type || !TorchStorage.Types.TryGetValue(type.Name, out var dtype))
            throw new InvalidDataException($"{name}: unsupported storage type {Unpickler.Describe(t[1])}");
        if (t[2] is not string key || t[4] is not long count || count < 0)
            throw new InvalidDataException($"{name}: persistent id has a bad key or element count");
        if (ReaderErrors.HasControlCharacters(key) || key.Length > 256)
            throw new InvalidDataException($"{name}: storage key '{ReaderErrors.Printable(key)}' is not a plain name");
        if (storages.TryGetValue(key, out var storage))
        {
            if (storage.DType != dtype || storage.ElementCount != count)
                throw new InvalidDataException($"{name}: storage '{key}' is used as both {storage.DType}[{storage.ElementCount}] and {dtype}[{count}]");
        }
        else
        {
            if (storages.Count >= budgets.Tensors)
                throw new ReaderBudgetException(name, "tensors.count", budgets.Tensors, storages.Count + 1, "the pickle's storages", "storages");
            storages[key] = storage = new TorchStorage(key, dtype, count, TensorData.ByteCount([count], dtype, $"{name}: storage '{key}'"));
        }

        if (!legacy || t.Count < 6 || t[5] is null) return (storage, storage);
        if (t[5] is not PickleTuple { Count: 3 } view || view[1] is not long offset || view[2] is not long viewCount
            || offset < 0 || viewCount < 0 || offset > count - viewCount)
            throw new InvalidDataException($"{name}: storage '{key}' has bad view metadata");
        return (storage, new TorchStorageView(storage, offset, viewCount));
    }

    /// <summary>The allow-list: what a state dict pickle may name. Nothing here runs code.</summary>
    private static Dictionary<string, PickleCall?> TensorGlobals(string name)
    {
        var g = Unpickler.BaseGlobals();
        g["torch._utils._rebuild_tensor_v2"] = args => RebuildTensor(args, name);
        g["torch._utils._rebuild_tensor"] = args => RebuildTensor(args, name);
        g["torch._utils._rebuild_parameter"] = args => args.Count >= 1 && args[0] is TorchTensorRef t
            ? t : throw new InvalidDataException($"{name}: _rebuild_parameter without a tensor");
        g["torch._utils._rebuild_parameter_with_state"] = g["torch._utils._rebuild_parameter"];
        foreach (var type in TorchStorage.Types.Keys)
        {
            g["torch." + type] = null;
            g["torch.cuda." + type] = null;
        }
        return g;
    }

    /// <summary>torch._utils._rebuild_tensor(_v2)(storage, storage_offset, size, stride, ...): a view, checked to lie in its storage.</summary>
    private static TorchTensorRef RebuildTensor(PickleTuple args, string name)
    {
        if (args.Count < 4) throw new InvalidDataException($"{name}: _rebuild_tensor with {args.Count} arguments");
        var (storage, offset, limit) = args[0] switch
        {
            TorchStorage s => (s, 0L, s.ElementCount),
            TorchStorageView v => (v.Root, v.Offset, v.Count),
            var other => throw new InvalidDataException($"{name}: _rebuild_tensor on {Unpickler.Describe(other)}, expected a storage"),
        };
        if (args[1] is not long start || start < 0) throw new InvalidDataException($"{name}: bad tensor storage offset");
        var size = Longs(args[2], "size", name);
        var stride = Longs(args[3], "stride", name);
        if (size.Length != stride.Length) throw new InvalidDataException($"{name}: tensor size has {size.Length} dims, stride {stride.Length}");
        long count = 1, last = start;
        try
        {
            for (int d = 0; d < size.Length; d++)
            {
                if (size[d] < 0 || size[d] > int.MaxValue || stride[d] < 0) throw new InvalidDataException($"{name}: bad tensor size or stride in dim {d}");
                count = checked(count * size[d]);
                if (size[d] > 0) last = checked(last + (size[d] - 1) * stride[d]);
            }
        }
        catch (OverflowException) { throw new InvalidDataException($"{name}: tensor size overflows"); }
        // Bounded by the storage: a tensor never has more elements than its storage (no stride-0 broadcasts), so
        // copying it out costs no more than the file holds.
        if (count > 0 && (last >= limit || count > limit))
            throw new InvalidDataException($"{name}: tensor of size [{string.Join(",", size)}] stride [{string.Join(",", stride)}] at offset {start} does not fit its storage of {limit} elements");
        return new TorchTensorRef(storage, offset + start, size, stride);
    }

    private static long[] Longs(object? value, string what, string name) =>
        value is PickleTuple t && t.Count <= 64 && t.All(x => x is long)
            ? t.Select(x => (long)x!).ToArray()
            : throw new InvalidDataException($"{name}: tensor {what} is {Unpickler.Describe(value)}, expected a tuple of ints");

    /// <summary>Copies the tensors of the name -> tensor dict out of their (read) storages.</summary>
    private static IReadOnlyDictionary<string, TensorData> Collect(PickleDict dict, string name)
    {
        // Tied weights may repeat a tensor, but a pickle naming one storage many times over is an attack on memory.
        long budget = 4 * dict.Entries.Select(e => ((TorchTensorRef)e.Value!).Storage).Distinct().Sum(s => s.ByteCount) + (1 << 20);
        var result = new OrderedDictionary<string, TensorData>(StringComparer.Ordinal);
        foreach (var (k, v) in dict.Entries)
        {
            var key = (string)k!;
            var t = (TorchTensorRef)v!;
            budget -= TensorData.ByteCount(t.Size, t.Storage.DType, $"{name}: tensor '{key}'");
            if (budget < 0) throw new InvalidDataException($"{name}: the tensors repeat their storages more than 4 times over");
            result[key] = new TensorData(key, t.Size.Select(d => (int)d).ToArray(), t.Storage.DType, Contiguous(t, key, name));
        }
        return result;
    }

    private static PickleDict? FindTensorDict(object? value, string name, int depth, ReaderBudgets budgets)
    {
        if (value is not PickleDict d || d.Count == 0 || depth > 2) return null;
        if (d.Entries.Any(e => e.Value is TorchTensorRef))
        {
            if (d.Count > budgets.Tensors)
                throw new ReaderBudgetException(name, "tensors.count", budgets.Tensors, d.Count, "the tensor dict", "tensors");
            foreach (var (k, v) in d.Entries)
            {
                if (k is not string key) throw new InvalidDataException($"{name}: tensor dict key is {Unpickler.Describe(k)}, not a string");
                if (ReaderErrors.HasControlCharacters(key)) throw new InvalidDataException($"{name}: tensor name '{ReaderErrors.Printable(key)}' holds control characters");
                if (v is not TorchTensorRef) throw new InvalidDataException($"{name}: tensor dict entry '{ReaderErrors.Printable(key)}' is {Unpickler.Describe(v)}, not a tensor");
            }
            return d;
        }
        foreach (var key in NestedKeys)
            if (d.TryGet(key, out var inner) && FindTensorDict(inner, name, depth + 1, budgets) is { } found) return found;
        return null;
    }

    private static string Summarize(object? root) => root is PickleDict d
        ? $"a dict with keys [{string.Join(", ", d.Entries.Take(10).Select(e => e.Key?.ToString()))}]"
        : Unpickler.Describe(root);

    /// <summary>
    /// The tensor's elements in row-major order, gathered through its strides. A tensor that is exactly its whole
    /// storage (what a state dict almost always holds) takes the storage's array without a copy; tensors that share
    /// a storage after that get copies, so no two tensors share an array.
    /// </summary>
    private static byte[] Contiguous(TorchTensorRef t, string key, string name)
    {
        var storage = t.Storage;
        var bytes = storage.Bytes ?? throw new InvalidDataException($"{name}: tensor '{key}' uses storage '{storage.Key}', whose data is missing");
        int es = TensorData.ElementSize(storage.DType);
        long count = t.Size.Aggregate(1L, (a, b) => a * b);
        long length = count * es;
        bool contiguous = IsContiguous(t.Size, t.Stride);
        if (contiguous && t.Offset == 0 && length == bytes.LongLength && !storage.Lent)
        {
            storage.Lent = true;
            return bytes;
        }
        var output = GC.AllocateUninitializedArray<byte>((int)length);
        if (count == 0) return output;
        if (contiguous)
        {
            Array.Copy(bytes, t.Offset * es, output, 0, length);
            return output;
        }
        // Row by row over the outer dimensions; each row is one copy when its elements are adjacent (stride 1).
        int rank = t.Size.Length;
        long inner = t.Size[rank - 1], innerStride = t.Stride[rank - 1];
        var index = new long[rank - 1];
        long dst = 0;
        for (long row = 0; row < count / inner; row++)
        {
            long src = t.Offset;
            for (int d = 0; d < rank - 1; d++) src += index[d] * t.Stride[d];
            if (innerStride == 1)
            {
                Array.Copy(bytes, src * es, output, dst, inner * es);
                dst += inner * es;
            }
            else
                for (long i = 0; i < inner; i++, dst += es) Array.Copy(bytes, (src + i * innerStride) * es, output, dst, es);
            for (int d = rank - 2; d >= 0 && ++index[d] == t.Size[d]; d--) index[d] = 0;
        }
        return output;
    }

    private static bool IsContiguous(long[] size, long[] stride)
    {
        long expected = 1;
        for (int d = size.Length - 1; d >= 0; d--)
        {
            if (size[d] != 1 && stride[d] != expected) return false;
            expected *= size[d];
        }
        return true;
    }
}
