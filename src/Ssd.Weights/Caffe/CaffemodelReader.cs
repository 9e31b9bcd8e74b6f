using System.Runtime.InteropServices;
using Google.Protobuf;
using Ssd.Weights.Caffe.Proto;
using Ssd.Weights.Tensors;

namespace Ssd.Weights.Caffe;

/// <summary>The learned blobs of one layer of a .caffemodel, in Caffe's order (weights, then bias, ...).</summary>
public sealed record CaffeLayerBlobs(string LayerName, string LayerType, IReadOnlyList<CaffeBlob> Blobs);

/// <summary>One blob; Legacy is true when its shape came from the deprecated num/channels/height/width fields.</summary>
public sealed record CaffeBlob(TensorData Tensor, bool Legacy);

/// <summary>
/// Reads the blobs of a binary .caffemodel (a serialised caffe.NetParameter) with the generated parser of
/// caffe_subset.proto. Modern `layer` and deprecated V1 `layers` are both read; float `data` (packed or not) and
/// `double_data` are kept as stored (Float32 / Float64). Corrupt or inconsistent files give InvalidDataException.
/// </summary>
public static class CaffemodelReader
{
    public static IReadOnlyDictionary<string, CaffeLayerBlobs> ReadFile(string path)
    {
        try { return Read(File.ReadAllBytes(path)); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{Path.GetFileName(path)}: {e.Message}", e); }
    }

    public static IReadOnlyDictionary<string, CaffeLayerBlobs> Read(byte[] bytes)
    {
        NetParameter net;
        try { net = NetParameter.Parser.ParseFrom(bytes); }
        catch (InvalidProtocolBufferException e) { throw new InvalidDataException($"not a valid caffemodel (protobuf NetParameter): {e.Message}", e); }

        var result = new Dictionary<string, CaffeLayerBlobs>();
        foreach (var l in net.Layer)
            Add(result, l.Name, l.Type, l.Blobs);
        foreach (var l in net.Layers)
            Add(result, l.Name, $"V1:{l.Type}", l.Blobs);
        return result;
    }

    private static void Add(Dictionary<string, CaffeLayerBlobs> result, string name, string type, IList<BlobProto> blobs)
    {
        if (blobs.Count == 0) return;
        if (string.IsNullOrEmpty(name)) throw new InvalidDataException($"a {type} layer with blobs has no name");
        var list = new List<CaffeBlob>(blobs.Count);
        for (int i = 0; i < blobs.Count; i++) list.Add(ToBlob($"{name}.{i}", blobs[i]));
        // Caffe itself takes the first layer of a name when copying trained weights; duplicates are ignored the same way.
        result.TryAdd(name, new CaffeLayerBlobs(name, type, list));
    }

    private static CaffeBlob ToBlob(string name, BlobProto b)
    {
        bool legacy = b.Shape is null;
        long[] dims = legacy ? [b.Num, b.Channels, b.Height, b.Width] : b.Shape!.Dim.ToArray();
        if (dims.Any(d => d < 0 || d > int.MaxValue))
            throw new InvalidDataException($"blob {name}: invalid shape [{string.Join(",", dims)}]");
        long count = dims.Aggregate(1L, (a, d) => a * d);
        if (legacy && dims.All(d => d == 0)) count = 0;
        var shape = dims.Select(d => (int)d).ToArray();

        if (b.Data.Count > 0)
        {
            if (b.Data.Count != count) throw new InvalidDataException($"blob {name}: {b.Data.Count} floats for shape [{string.Join(",", dims)}] ({count} elements)");
            // RepeatedField copies out only into a float[]: a pooled one, so the blob's bytes are the only new array.
            var bytes = GC.AllocateUninitializedArray<byte>(checked((int)count * 4));
            var floats = System.Buffers.ArrayPool<float>.Shared.Rent((int)count);
            try
            {
                b.Data.CopyTo(floats, 0);
                MemoryMarshal.AsBytes(floats.AsSpan(0, (int)count)).CopyTo(bytes);
            }
            finally { System.Buffers.ArrayPool<float>.Shared.Return(floats); }
            return new CaffeBlob(new TensorData(name, shape, TensorDType.Float32, bytes), legacy);
        }
        if (b.DoubleData.Count > 0)
        {
            if (b.DoubleData.Count != count) throw new InvalidDataException($"blob {name}: {b.DoubleData.Count} doubles for shape [{string.Join(",", dims)}] ({count} elements)");
            var doubles = new double[count];
            b.DoubleData.CopyTo(doubles, 0);
            return new CaffeBlob(new TensorData(name, shape, TensorDType.Float64, MemoryMarshal.AsBytes(doubles.AsSpan()).ToArray()), legacy);
        }
        throw new InvalidDataException($"blob {name}: shape [{string.Join(",", dims)}] but no data");
    }
}
