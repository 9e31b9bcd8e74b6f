using System.Buffers.Binary;
using System.Text;

namespace Ssd.Fuzz;

/// <summary>
/// Writes protocol-2 pickles opcode by opcode: the state-dict layout torch.save writes (so the bombs and the fuzz
/// corpus can hold checkpoints no torch would write) and raw opcode streams.
/// </summary>
public sealed class PickleWriter
{
    private readonly MemoryStream s = new();

    public PickleWriter(bool header = true)
    {
        if (header) Op(0x80).Op(2);
    }

    public PickleWriter Op(byte op) { s.WriteByte(op); return this; }
    public PickleWriter Op(char op) => Op((byte)op);
    public PickleWriter Raw(ReadOnlySpan<byte> bytes) { s.Write(bytes); return this; }

    /// <summary>An int as Python's pickle writes it (BININT1, BININT2, BININT, else LONG1); <paramref name="long1"/> forces LONG1.</summary>
    public PickleWriter Int(long v, bool long1 = false)
    {
        if (!long1 && v is >= 0 and < 256) return Op('K').Op((byte)v);
        if (!long1 && v is >= 0 and < 65536) { Op('M'); Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)v); return Raw(b); }
        if (!long1 && v is >= int.MinValue and <= int.MaxValue) { Op('J'); Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteInt32LittleEndian(b, (int)v); return Raw(b); }
        var bytes = new System.Numerics.BigInteger(v).ToByteArray();
        return Op(0x8a).Op((byte)bytes.Length).Raw(bytes);
    }

    public PickleWriter Str(string v)
    {
        var bytes = Encoding.UTF8.GetBytes(v);
        Op('X');
        Span<byte> n = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(n, bytes.Length);
        return Raw(n).Raw(bytes);
    }

    public PickleWriter Global(string module, string name) => Op('c').Raw(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));
    public PickleWriter Tuple(IEnumerable<long> values) { Op('('); foreach (var v in values) Int(v); return Op('t'); }
    public PickleWriter Stop() => Op('.');

    public byte[] ToArray() => s.ToArray();

    /// <summary>One tensor of a state dict: a view of storage <paramref name="Key"/> (<paramref name="Numel"/> elements of <paramref name="StorageType"/>).</summary>
    public sealed record Tensor(string Name, string Key, long Numel, long[] Size, long[] Stride, long Offset = 0, string StorageType = "FloatStorage", bool Long1 = false);

    /// <summary>collections.OrderedDict of torch._utils._rebuild_tensor_v2 calls, as torch.save(state_dict) pickles it.</summary>
    public static byte[] StateDict(IEnumerable<Tensor> tensors)
    {
        var w = new PickleWriter().Global("collections", "OrderedDict").Op(')').Op('R').Op('(');
        foreach (var t in tensors)
        {
            w.Str(t.Name).Global("torch._utils", "_rebuild_tensor_v2").Op('(');
            w.Op('(').Str("storage").Global("torch", t.StorageType).Str(t.Key).Str("cpu").Int(t.Numel, t.Long1).Op('t').Op('Q');
            w.Int(t.Offset, t.Long1).Op('(');
            foreach (var d in t.Size) w.Int(d, t.Long1);
            w.Op('t').Op('(');
            foreach (var d in t.Stride) w.Int(d, t.Long1);
            w.Op('t').Op(0x89).Global("collections", "OrderedDict").Op(')').Op('R').Op('t').Op('R');
        }
        return w.Op('u').Stop().ToArray();
    }

    /// <summary>Contiguous strides of a shape.</summary>
    public static long[] Contiguous(long[] size)
    {
        var stride = new long[size.Length];
        long s = 1;
        for (int d = size.Length - 1; d >= 0; d--) { stride[d] = s; s *= Math.Max(size[d], 1); }
        return stride;
    }
}
