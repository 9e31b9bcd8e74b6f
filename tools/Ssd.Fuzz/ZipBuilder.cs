using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Ssd.Fuzz;

/// <summary>
/// Writes zip archives byte by byte, including ones no zip library would write: central-directory entries that
/// alias another entry's data (overlapping entries), two entries of one name, sizes that lie. Local headers carry
/// the real sizes; the central directory carries what the caller declares.
/// </summary>
public sealed class ZipBuilder
{
    private sealed record Central(string Name, long HeaderOffset, int Method, long CompressedSize, long Size, uint Crc);

    private readonly MemoryStream body = new();
    private readonly List<Central> central = [];

    public int Count => central.Count;

    /// <summary>Write the ZIP64 end records even when nothing needs them (as some writers do).</summary>
    public bool ForceZip64 { get; init; }

    /// <summary>Adds an entry (stored, or deflated); <paramref name="declaredSize"/> overrides the size the central directory states.</summary>
    public int Add(string name, byte[] data, bool deflate = false, long? declaredSize = null)
    {
        var stored = deflate ? Deflate(data) : data;
        return AddRaw(name, stored, deflate ? 8 : 0, declaredSize ?? data.Length, Crc32(data));
    }

    /// <summary>Adds a deflated entry of <paramref name="size"/> zero bytes (a multiple of 1 MiB) without holding them in memory.</summary>
    public int AddDeflatedZeros(string name, long size, long? declaredSize = null) => AddRaw(name, DeflatedZeros(size), 8, declaredSize ?? size, 0);

    /// <summary>
    /// A deflate stream of <paramref name="size"/> zero bytes (a multiple of 1 MiB), about 1 KB per MiB, made in
    /// milliseconds: 1 MiB of zeros compressed once up to a sync flush (non-final, byte-aligned blocks that only
    /// refer back to zeros) repeated, then an empty final block.
    /// </summary>
    public static byte[] DeflatedZeros(long size)
    {
        const int unitSize = 1 << 20;
        if (size % unitSize != 0) throw new ArgumentException("size must be a multiple of 1 MiB", nameof(size));
        var m = new MemoryStream();
        byte[] unit;
        using (var d = new DeflateStream(m, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            d.Write(new byte[unitSize]);
            d.Flush();
            unit = m.ToArray();
        }
        long units = size / unitSize;
        var result = new byte[units * unit.Length + 2];
        for (long i = 0; i < units; i++) unit.CopyTo(result, i * unit.Length);
        result[^2] = 0x03; // BFINAL, fixed Huffman, end of block: an empty final block
        return result;
    }

    /// <summary>Adds a central-directory entry named <paramref name="name"/> for the data of entry <paramref name="of"/>.</summary>
    public void Alias(string name, int of, long? declaredSize = null)
    {
        var e = central[of];
        central.Add(e with { Name = name, Size = declaredSize ?? e.Size });
    }

    /// <summary>Overrides what the central directory says about entry <paramref name="index"/>.</summary>
    public void Declare(int index, long? size = null, long? compressedSize = null, long? headerOffset = null)
    {
        var e = central[index];
        central[index] = e with { Size = size ?? e.Size, CompressedSize = compressedSize ?? e.CompressedSize, HeaderOffset = headerOffset ?? e.HeaderOffset };
    }

    private int AddRaw(string name, byte[] stored, int method, long size, uint crc)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name);
        long offset = body.Length;
        Span<byte> h = stackalloc byte[30];
        BinaryPrimitives.WriteUInt32LittleEndian(h, 0x04034b50);
        BinaryPrimitives.WriteUInt16LittleEndian(h[4..], 20);
        BinaryPrimitives.WriteUInt16LittleEndian(h[6..], 0x0800); // UTF-8 names
        BinaryPrimitives.WriteUInt16LittleEndian(h[8..], (ushort)method);
        BinaryPrimitives.WriteUInt32LittleEndian(h[14..], crc);
        BinaryPrimitives.WriteUInt32LittleEndian(h[18..], (uint)Math.Min(stored.Length, uint.MaxValue));
        BinaryPrimitives.WriteUInt32LittleEndian(h[22..], (uint)Math.Min(size, uint.MaxValue));
        BinaryPrimitives.WriteUInt16LittleEndian(h[26..], (ushort)nameBytes.Length);
        body.Write(h);
        body.Write(nameBytes);
        body.Write(stored);
        central.Add(new Central(name, offset, method, stored.Length, size, crc));
        return central.Count - 1;
    }

    /// <summary>The archive; ZIP64 records are written when a size or offset needs them.</summary>
    public byte[] Build()
    {
        var output = new MemoryStream();
        body.Position = 0;
        body.CopyTo(output);
        long cdStart = output.Length;
        foreach (var e in central)
        {
            var nameBytes = Encoding.UTF8.GetBytes(e.Name);
            bool big = e.Size >= uint.MaxValue || e.CompressedSize >= uint.MaxValue || e.HeaderOffset >= uint.MaxValue;
            var extra = big ? new byte[28] : [];
            if (big)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(extra, 1);
                BinaryPrimitives.WriteUInt16LittleEndian(extra.AsSpan(2), 24);
                BinaryPrimitives.WriteInt64LittleEndian(extra.AsSpan(4), e.Size);
                BinaryPrimitives.WriteInt64LittleEndian(extra.AsSpan(12), e.CompressedSize);
                BinaryPrimitives.WriteInt64LittleEndian(extra.AsSpan(20), e.HeaderOffset);
            }
            var h = new byte[46];
            BinaryPrimitives.WriteUInt32LittleEndian(h, 0x02014b50);
            BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(4), 45);
            BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(6), 45);
            BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(8), 0x0800);
            BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(10), (ushort)e.Method);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(16), e.Crc);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(20), big ? uint.MaxValue : (uint)e.CompressedSize);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(24), big ? uint.MaxValue : (uint)e.Size);
            BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(28), (ushort)nameBytes.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(30), (ushort)extra.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(42), big ? uint.MaxValue : (uint)e.HeaderOffset);
            output.Write(h);
            output.Write(nameBytes);
            output.Write(extra);
        }
        long cdSize = output.Length - cdStart;
        bool zip64 = ForceZip64 || central.Count >= 0xFFFF || cdStart >= uint.MaxValue || central.Any(e => e.Size >= uint.MaxValue || e.HeaderOffset >= uint.MaxValue);
        if (zip64)
        {
            long record = output.Length;
            var z = new byte[56];
            BinaryPrimitives.WriteUInt32LittleEndian(z, 0x06064b50);
            BinaryPrimitives.WriteInt64LittleEndian(z.AsSpan(4), 44);
            BinaryPrimitives.WriteUInt16LittleEndian(z.AsSpan(12), 45);
            BinaryPrimitives.WriteUInt16LittleEndian(z.AsSpan(14), 45);
            BinaryPrimitives.WriteInt64LittleEndian(z.AsSpan(24), central.Count);
            BinaryPrimitives.WriteInt64LittleEndian(z.AsSpan(32), central.Count);
            BinaryPrimitives.WriteInt64LittleEndian(z.AsSpan(40), cdSize);
            BinaryPrimitives.WriteInt64LittleEndian(z.AsSpan(48), cdStart);
            output.Write(z);
            var locator = new byte[20];
            BinaryPrimitives.WriteUInt32LittleEndian(locator, 0x07064b50);
            BinaryPrimitives.WriteInt64LittleEndian(locator.AsSpan(8), record);
            BinaryPrimitives.WriteUInt32LittleEndian(locator.AsSpan(16), 1);
            output.Write(locator);
        }
        var end = new byte[22];
        BinaryPrimitives.WriteUInt32LittleEndian(end, 0x06054b50);
        ushort count = (ushort)Math.Min(central.Count, 0xFFFF);
        BinaryPrimitives.WriteUInt16LittleEndian(end.AsSpan(8), zip64 ? (ushort)0xFFFF : count);
        BinaryPrimitives.WriteUInt16LittleEndian(end.AsSpan(10), zip64 ? (ushort)0xFFFF : count);
        BinaryPrimitives.WriteUInt32LittleEndian(end.AsSpan(12), zip64 ? uint.MaxValue : (uint)cdSize);
        BinaryPrimitives.WriteUInt32LittleEndian(end.AsSpan(16), zip64 ? uint.MaxValue : (uint)cdStart);
        output.Write(end);
        return output.ToArray();
    }

    public static byte[] Deflate(byte[] data)
    {
        var m = new MemoryStream();
        using (var d = new DeflateStream(m, CompressionLevel.SmallestSize, leaveOpen: true)) d.Write(data);
        return m.ToArray();
    }

    private static readonly uint[] CrcTable = Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    /// <summary>CRC-32 (ISO-HDLC) as zip stores it; the readers do not check it (torch.load does not either).</summary>
    public static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFF;
        foreach (var b in data) c = CrcTable[(c ^ b) & 0xFF] ^ (c >> 8);
        return ~c;
    }
}
