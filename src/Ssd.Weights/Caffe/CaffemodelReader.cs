using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Ssd.Weights.Tensors;

namespace Ssd.Weights.Caffe;

/// <summary>The learned blobs of one layer of a .caffemodel, in Caffe's order (weights, then bias, ...).</summary>
internal sealed record CaffeLayerBlobs(string LayerName, string LayerType, IReadOnlyList<CaffeBlob> Blobs);

/// <summary>One blob; Legacy is true when its shape came from the deprecated num/channels/height/width fields.</summary>
internal sealed record CaffeBlob(TensorData Tensor, bool Legacy);

/// <summary>
/// Reads the blobs of a binary .caffemodel (a serialised caffe.NetParameter) straight from the protobuf wire format,
/// walking only the fields it needs: NetParameter.layer (100) and the deprecated V1 layers (2); of a layer its name,
/// type and blobs (LayerParameter 1, 2, 7; V1LayerParameter 4, 5, 6); of a blob its shape (7: BlobShape.dim 1),
/// float data (5), double data (8) and the deprecated num/channels/height/width (1-4). Everything else (layer
/// parameters, which come from the deploy .prototxt instead, diffs, solver state) is skipped without being
/// materialised, so memory is the file plus the blobs' own bytes: float data, packed or not, is copied once into
/// the tensor, and double data kept as Float64. Field numbers are those of Caffe's caffe.proto (BVLC and weiliu89's
/// SSD fork agree on them). Corrupt or inconsistent files give InvalidDataException; more than
/// <see cref="ReaderBudgets.Tensors"/> blobs or a file over <see cref="ReaderBudgets.CaffemodelBytes"/> give
/// <see cref="ReaderBudgetException"/>.
/// </summary>
internal static class CaffemodelReader
{
    private const int MaxDims = 64;

    public static IReadOnlyDictionary<string, CaffeLayerBlobs> ReadFile(string path, ReaderBudgets? budgets = null)
    {
        budgets ??= ReaderBudgets.Default;
        var name = Path.GetFileName(path);
        var bytes = InputFile.ReadAllBytes(path, "caffemodel.bytes", budgets.CaffemodelBytes);
        try { return Read(bytes, budgets, name); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{name}: {e.Message}", e); }
    }

    /// <remarks><paramref name="name"/>: How to name the file in budget messages.</remarks>
    public static IReadOnlyDictionary<string, CaffeLayerBlobs> Read(byte[] bytes, ReaderBudgets? budgets = null, string name = "caffemodel")
    {
        budgets ??= ReaderBudgets.Default;
        var result = new Dictionary<string, CaffeLayerBlobs>();
        var deprecated = new Dictionary<string, CaffeLayerBlobs>();
        int blobCount = 0;
        var net = new WireReader(bytes, 0);
        while (net.Next(out int field, out int wire))
        {
            if ((field == 100 || field == 2) && wire == WireReader.LengthDelimited)
            {
                int at = net.Position;
                var layer = net.Message();
                ReadLayer(layer, at, field == 2, field == 2 ? deprecated : result, ref blobCount, budgets, name);
            }
            else net.Skip(wire);
        }
        // Modern layers first, as Caffe's CopyTrainedLayersFrom sees them after upgrading V1 nets.
        foreach (var (k, v) in deprecated) result.TryAdd(k, v);
        return result;
    }

    private static void ReadLayer(ReadOnlySpan<byte> message, int offset, bool v1, Dictionary<string, CaffeLayerBlobs> result,
        ref int blobCount, ReaderBudgets budgets, string file)
    {
        string name = "", type = "";
        int blobs = 0;
        var r = new WireReader(message, offset);
        // First pass: name, type and how many blobs (so the list is sized and the budget checked up front).
        while (r.Next(out int field, out int wire))
        {
            if (field == (v1 ? 4 : 1) && wire == WireReader.LengthDelimited) name = r.String();
            else if (!v1 && field == 2 && wire == WireReader.LengthDelimited) type = r.String();
            else if (v1 && field == 5 && wire == WireReader.VarintType) type = $"V1:{(int)r.Varint()}";
            else if (field == (v1 ? 6 : 7) && wire == WireReader.LengthDelimited) { r.Message(); blobs++; }
            else r.Skip(wire);
        }
        if (blobs == 0) return;
        blobCount += blobs;
        if (blobCount > budgets.Tensors) throw new ReaderBudgetException(file, "tensors.count", budgets.Tensors, blobCount, "the caffemodel's blobs", "blobs (at least)");
        if (string.IsNullOrEmpty(name)) throw new InvalidDataException($"a {ReaderErrors.Printable(type)} layer with blobs has no name");
        if (ReaderErrors.HasControlCharacters(name) || ReaderErrors.HasControlCharacters(type))
            throw new InvalidDataException($"layer '{ReaderErrors.Printable(name)}' ({ReaderErrors.Printable(type)}) has a name or type with control characters");
        var list = new List<CaffeBlob>(blobs);
        r = new WireReader(message, offset);
        while (r.Next(out int field, out int wire))
        {
            if (field == (v1 ? 6 : 7) && wire == WireReader.LengthDelimited)
            {
                int at = r.Position;
                list.Add(ReadBlob(r.Message(), at, $"{name}.{list.Count}"));
            }
            else r.Skip(wire);
        }
        // Caffe itself takes the first layer of a name when copying trained weights; duplicates are ignored the same way.
        result.TryAdd(name, new CaffeLayerBlobs(name, type, list));
    }

    private static CaffeBlob ReadBlob(ReadOnlySpan<byte> message, int offset, string name)
    {
        var dims = new List<long>();
        bool hasShape = false;
        long num = 0, channels = 0, height = 0, width = 0;
        long floats = 0, doubles = 0;
        var r = new WireReader(message, offset);
        // First pass: the shape and how many values of each kind, so the data is copied once into an exact array.
        while (r.Next(out int field, out int wire))
        {
            switch (field, wire)
            {
                case (7, WireReader.LengthDelimited):
                {
                    hasShape = true;
                    int at = r.Position;
                    var shape = new WireReader(r.Message(), at);
                    while (shape.Next(out int f, out int w))
                    {
                        if (f == 1 && w == WireReader.VarintType) AddDim(dims, (long)shape.Varint(), name);
                        else if (f == 1 && w == WireReader.LengthDelimited)
                        {
                            int pat = shape.Position;
                            var packed = new WireReader(shape.Message(), pat);
                            while (!packed.AtEnd) AddDim(dims, (long)packed.Varint(), name);
                        }
                        else shape.Skip(w);
                    }
                    break;
                }
                case (5, WireReader.LengthDelimited): floats += Packed(r.Message(), 4, name, "float"); break;
                case (5, WireReader.Fixed32Type): r.Fixed32(); floats++; break;
                case (8, WireReader.LengthDelimited): doubles += Packed(r.Message(), 8, name, "double"); break;
                case (8, WireReader.Fixed64Type): r.Fixed64(); doubles++; break;
                case (1, WireReader.VarintType): num = (int)r.Varint(); break;
                case (2, WireReader.VarintType): channels = (int)r.Varint(); break;
                case (3, WireReader.VarintType): height = (int)r.Varint(); break;
                case (4, WireReader.VarintType): width = (int)r.Varint(); break;
                default: r.Skip(wire); break;
            }
        }

        bool legacy = !hasShape;
        long[] shapeDims = legacy ? [num, channels, height, width] : [.. dims];
        if (shapeDims.Any(d => d < 0 || d > int.MaxValue))
            throw new InvalidDataException($"blob {name}: invalid shape [{string.Join(",", shapeDims)}]");
        string shapeText = string.Join(",", shapeDims);
        if (floats == 0 && doubles == 0) throw new InvalidDataException($"blob {name}: shape [{shapeText}] but no data");
        bool useFloats = floats > 0; // a blob with both keeps its float data, as Caffe's FromProto does
        var dtype = useFloats ? TensorDType.Float32 : TensorDType.Float64;
        int size = TensorData.ElementSize(dtype);
        long count = TensorData.ByteCount(shapeDims, dtype, $"blob {name}") / size;
        long values = useFloats ? floats : doubles;
        if (values != count) throw new InvalidDataException($"blob {name}: {values} {(useFloats ? "floats" : "doubles")} for shape [{shapeText}] ({count} elements)");

        var bytes = GC.AllocateUninitializedArray<byte>((int)(count * size));
        int filled = 0;
        r = new WireReader(message, offset);
        int dataField = useFloats ? 5 : 8;
        while (r.Next(out int field, out int wire))
        {
            if (field == dataField && wire == WireReader.LengthDelimited)
            {
                var packed = r.Message();
                packed.CopyTo(bytes.AsSpan(filled));
                filled += packed.Length;
            }
            else if (field == dataField && wire == (useFloats ? WireReader.Fixed32Type : WireReader.Fixed64Type))
            {
                if (useFloats) BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(filled), r.Fixed32());
                else BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(filled), r.Fixed64());
                filled += size;
            }
            else r.Skip(wire);
        }
        return new CaffeBlob(new TensorData(name, shapeDims.Select(d => (int)d).ToArray(), dtype, bytes), legacy);
    }

    private static void AddDim(List<long> dims, long d, string name)
    {
        if (dims.Count >= MaxDims) throw new InvalidDataException($"blob {name}: shape with more than {MaxDims} dimensions");
        dims.Add(d);
    }

    private static long Packed(ReadOnlySpan<byte> packed, int size, string name, string what) =>
        packed.Length % size == 0 ? packed.Length / size
            : throw new InvalidDataException($"blob {name}: packed {what} data of {packed.Length} bytes is not a multiple of {size}");

    /// <summary>The protobuf wire format over a span: tags, varints, fixed values and length-delimited fields.</summary>
    private ref struct WireReader(ReadOnlySpan<byte> data, int offset)
    {
        public const int VarintType = 0, Fixed64Type = 1, LengthDelimited = 2, Fixed32Type = 5;
        private readonly ReadOnlySpan<byte> data = data;
        private int pos;

        /// <summary>Where the reader is in the whole file (for messages).</summary>
        public readonly int Position => offset + pos;
        public readonly bool AtEnd => pos >= data.Length;

        public bool Next(out int field, out int wire)
        {
            field = wire = 0;
            if (AtEnd) return false;
            int at = Position;
            ulong tag = ReadVarint();
            field = (int)Math.Min(tag >> 3, int.MaxValue);
            wire = (int)(tag & 7);
            if (field == 0) throw Malformed(at, "field number 0");
            return true;
        }

        public ulong Varint() => ReadVarint();

        public uint Fixed32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

        public ulong Fixed64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

        public ReadOnlySpan<byte> Message()
        {
            ulong length = ReadVarint();
            if (length > (ulong)(data.Length - pos)) throw Malformed(Position, $"a {length}-byte field runs past the end of its message");
            return Take((int)length);
        }

        public string String() => Encoding.UTF8.GetString(Message());

        public void Skip(int wire)
        {
            switch (wire)
            {
                case VarintType: ReadVarint(); break;
                case Fixed64Type: Take(8); break;
                case LengthDelimited: Message(); break;
                case Fixed32Type: Take(4); break;
                default: throw Malformed(Position, $"wire type {wire} (groups are not used by Caffe)");
            }
        }

        private ReadOnlySpan<byte> Take(int n)
        {
            if (n > data.Length - pos) throw Malformed(Position, "truncated field");
            var s = data.Slice(pos, n);
            pos += n;
            return s;
        }

        private ulong ReadVarint()
        {
            ulong v = 0;
            for (int shift = 0; shift < 70; shift += 7)
            {
                if (pos >= data.Length) throw Malformed(Position, "truncated varint");
                byte b = data[pos++];
                v |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return v;
            }
            throw Malformed(Position, "varint longer than 10 bytes");
        }

        private static InvalidDataException Malformed(long at, string what) =>
            new($"not a valid caffemodel (protobuf NetParameter): {what} at offset {at}");
    }
}
