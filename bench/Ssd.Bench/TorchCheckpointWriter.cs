using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Ssd.Bench;

/// <summary>
/// Writes a float32 state dict in torch.save's zip layout (archive/data.pkl, one stored archive/data/&lt;key&gt; per
/// tensor, archive/version), so the conversion benchmark needs no Python. The pickle is the one torch writes for
/// an OrderedDict of contiguous tensors, minus the memo: name -> _rebuild_tensor_v2(persistent storage id, 0, size,
/// stride, False, OrderedDict()).
/// </summary>
public static class TorchCheckpointWriter
{
    public static void Write(string path, IReadOnlyList<(string Name, int[] Shape, float[] Values)> tensors)
    {
        using var zip = new ZipArchive(File.Create(path), ZipArchiveMode.Create);
        var pickle = new MemoryStream();
        pickle.Write([0x80, 2, (byte)'}', (byte)'(']); // PROTO 2, EMPTY_DICT, MARK
        for (int i = 0; i < tensors.Count; i++)
        {
            var (name, shape, values) = tensors[i];
            Unicode(pickle, name);
            Global(pickle, "torch._utils", "_rebuild_tensor_v2");
            pickle.WriteByte((byte)'(');
            pickle.WriteByte((byte)'(');
            Unicode(pickle, "storage");
            Global(pickle, "torch", "FloatStorage");
            Unicode(pickle, i.ToString());
            Unicode(pickle, "cpu");
            Int(pickle, values.Length);
            pickle.Write([(byte)'t', (byte)'Q']); // TUPLE, BINPERSID
            Int(pickle, 0);
            IntTuple(pickle, shape);
            var stride = new int[shape.Length];
            for (int d = shape.Length - 1, s = 1; d >= 0; s *= shape[d], d--) stride[d] = s;
            IntTuple(pickle, stride);
            pickle.WriteByte(0x89); // NEWFALSE
            Global(pickle, "collections", "OrderedDict");
            pickle.Write([(byte)')', (byte)'R', (byte)'t', (byte)'R']); // EMPTY_TUPLE, REDUCE; TUPLE, REDUCE
            using var data = zip.CreateEntry($"archive/data/{i}", CompressionLevel.NoCompression).Open();
            data.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        }
        pickle.Write([(byte)'u', (byte)'.']); // SETITEMS, STOP
        using (var s = zip.CreateEntry("archive/data.pkl", CompressionLevel.NoCompression).Open()) s.Write(pickle.ToArray());
        using (var s = zip.CreateEntry("archive/version", CompressionLevel.NoCompression).Open()) s.Write("3\n"u8);
    }

    private static void Unicode(Stream s, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        Span<byte> n = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(n, (uint)bytes.Length);
        s.WriteByte((byte)'X');
        s.Write(n);
        s.Write(bytes);
    }

    private static void Global(Stream s, string module, string name) => s.Write(Encoding.ASCII.GetBytes($"c{module}\n{name}\n"));

    private static void Int(Stream s, int value)
    {
        Span<byte> v = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(v, value);
        s.WriteByte((byte)'J');
        s.Write(v);
    }

    private static void IntTuple(Stream s, int[] values)
    {
        s.WriteByte((byte)'(');
        foreach (var v in values) Int(s, v);
        s.WriteByte((byte)'t');
    }
}
