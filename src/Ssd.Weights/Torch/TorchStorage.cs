using Ssd.Weights.Tensors;

namespace Ssd.Weights.Torch;

/// <summary>
/// One torch storage named by a checkpoint's persistent id: its element type and count, and its bytes once read
/// (the legacy format stores them after the pickle, the zip format in archive/data/&lt;key&gt;). Tensors that share
/// a storage hold the same instance, so it is read once.
/// </summary>
internal sealed class TorchStorage(string key, TensorDType dtype, long elementCount, long byteCount)
{
    public string Key { get; } = key;
    public TensorDType DType { get; } = dtype;
    public long ElementCount { get; } = elementCount;
    /// <summary>The storage's bytes once read: exactly <see cref="ByteCount"/> long.</summary>
    public byte[]? Bytes { get; set; }
    /// <summary>Whether a tensor already took <see cref="Bytes"/> as its own; later views of the storage copy.</summary>
    public bool Lent { get; set; }

    /// <summary>ElementCount x element size, checked by <see cref="TensorData.ByteCount(ReadOnlySpan{long}, TensorDType, string)"/>.</summary>
    public long ByteCount { get; } = byteCount;

    /// <summary>torch's storage classes (pickled as torch.FloatStorage, torch.cuda.HalfStorage, ...).</summary>
    public static readonly IReadOnlyDictionary<string, TensorDType> Types = new Dictionary<string, TensorDType>
    {
        ["FloatStorage"] = TensorDType.Float32,
        ["HalfStorage"] = TensorDType.Float16,
        ["BFloat16Storage"] = TensorDType.BFloat16,
        ["DoubleStorage"] = TensorDType.Float64,
        ["LongStorage"] = TensorDType.Int64,
        ["IntStorage"] = TensorDType.Int32,
        ["ByteStorage"] = TensorDType.UInt8,
        ["CharStorage"] = TensorDType.Int8,
        ["BoolStorage"] = TensorDType.Bool,
    };
}

/// <summary>A slice of a storage seen as a tensor: what torch._utils._rebuild_tensor(_v2) describes.</summary>
internal sealed class TorchTensorRef(TorchStorage storage, long offset, long[] size, long[] stride)
{
    public TorchStorage Storage { get; } = storage;
    public long Offset { get; } = offset;
    public long[] Size { get; } = size;
    public long[] Stride { get; } = stride;
}

/// <summary>A legacy-format storage view: (view key, element offset, element count) of a root storage.</summary>
internal sealed class TorchStorageView(TorchStorage root, long offset, long count)
{
    public TorchStorage Root { get; } = root;
    public long Offset { get; } = offset;
    public long Count { get; } = count;
}
