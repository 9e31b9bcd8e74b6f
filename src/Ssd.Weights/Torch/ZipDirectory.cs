using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Ssd.Weights.Torch;

/// <summary>One entry of a zip archive's central directory and where its data lies in the file.</summary>
internal sealed record ZipEntry(string Name, int Method, long HeaderOffset, long DataOffset, long CompressedSize, long Size)
{
    public long End => DataOffset + CompressedSize;
}

/// <summary>
/// The central directory of a zip archive (the container of torch.save &gt;= 1.6), read and checked before any entry
/// is inflated: one end record (ZIP64 included), at most <see cref="ReaderBudgets.ZipEntries"/> entries, unique
/// names, every entry (local header and data) inside the file, before the central directory and overlapping no
/// other entry, stored (0) or deflated (8), not encrypted, and a declared size that its compressed bytes can hold.
/// Entries are then read to exactly their declared size, and all reads together are bounded by
/// <see cref="ReaderBudgets.InflatedBytesFor"/> the archive's length ("zip.inflated"), reserved before reading.
/// CRCs are not checked, as torch.load does not (torch 2.6 can write archives without them).
/// </summary>
internal sealed class ZipDirectory
{
    /// <summary>Deflate expands at most ~1032:1 (258 bytes per 2-bit code); more is a lie about the size.</summary>
    private const long MaxDeflateRatio = 1032;

    private readonly Stream stream;
    private readonly string name;
    private readonly Dictionary<string, ZipEntry> byName;
    private long inflatedLeft;

    public IReadOnlyList<ZipEntry> Entries { get; }
    public long InflationBudget { get; }

    private ZipDirectory(Stream stream, string name, List<ZipEntry> entries, long inflationBudget)
    {
        this.stream = stream;
        this.name = name;
        Entries = entries;
        byName = entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
        InflationBudget = inflatedLeft = inflationBudget;
    }

    public bool TryGet(string entryName, out ZipEntry entry) => byName.TryGetValue(entryName, out entry!);

    /// <summary>Takes <paramref name="bytes"/> from the inflation budget for entries about to be read.</summary>
    public void Reserve(long bytes, string what)
    {
        if (bytes > inflatedLeft)
            throw new ReaderBudgetException(name, "zip.inflated", InflationBudget, InflationBudget - inflatedLeft + bytes, what);
        inflatedLeft -= bytes;
    }

    /// <summary>The first <paramref name="count"/> bytes of an entry (its whole declared size by default); the
    /// caller has reserved them (<see cref="Reserve"/>).</summary>
    public byte[] Read(ZipEntry entry, long count = -1)
    {
        if (count < 0) count = entry.Size;
        if (count > entry.Size || count > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(count));
        var bytes = GC.AllocateUninitializedArray<byte>((int)count);
        int got;
        bool more = false;
        try
        {
            stream.Position = entry.DataOffset;
            if (entry.Method == 0)
            {
                stream.ReadExactly(bytes);
                return bytes;
            }
            using var inflate = new DeflateStream(new Window(stream, entry.DataOffset, entry.CompressedSize), CompressionMode.Decompress);
            got = inflate.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false);
            if (got == count && count == entry.Size) more = inflate.ReadByte() >= 0;
        }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            throw new InvalidDataException($"{name}: damaged zip entry '{entry.Name}': {e.Message}", e);
        }
        if (got < count) throw new InvalidDataException($"{name}: zip entry '{entry.Name}' inflates to {got} bytes, its header says {entry.Size}");
        if (more) throw new InvalidDataException($"{name}: zip entry '{entry.Name}' inflates to more than its declared {entry.Size} bytes");
        return bytes;
    }

    public static ZipDirectory Open(Stream stream, string name, ReaderBudgets budgets)
    {
        long length = stream.Length;
        var (count, cdOffset, cdSize, cdEnd) = ReadEnd(stream, name, length);
        if (count > budgets.ZipEntries)
            throw new ReaderBudgetException(name, "zip.entries", budgets.ZipEntries, count, "the zip central directory", "entries");
        if (cdSize < 46 * count || cdOffset < 0 || cdSize > cdEnd - cdOffset || cdSize > Array.MaxLength)
            throw Damaged(name, $"central directory of {count} entries at {cdOffset} ({cdSize} bytes) does not fit before the end record at {cdEnd}");
        var cd = new byte[cdSize];
        stream.Position = cdOffset;
        stream.ReadExactly(cd);

        var entries = new List<ZipEntry>((int)count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        Span<byte> local = stackalloc byte[30];
        int p = 0;
        for (long i = 0; i < count; i++)
        {
            if (p + 46 > cd.Length || BinaryPrimitives.ReadUInt32LittleEndian(cd.AsSpan(p)) != 0x02014b50)
                throw Damaged(name, $"central directory entry {i} at {cdOffset + p} has no signature");
            var h = cd.AsSpan(p);
            int flags = BinaryPrimitives.ReadUInt16LittleEndian(h[8..]);
            int method = BinaryPrimitives.ReadUInt16LittleEndian(h[10..]);
            long csize = BinaryPrimitives.ReadUInt32LittleEndian(h[20..]);
            long usize = BinaryPrimitives.ReadUInt32LittleEndian(h[24..]);
            int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(h[28..]);
            int extraLength = BinaryPrimitives.ReadUInt16LittleEndian(h[30..]);
            int commentLength = BinaryPrimitives.ReadUInt16LittleEndian(h[32..]);
            long disk = BinaryPrimitives.ReadUInt16LittleEndian(h[34..]);
            long offset = BinaryPrimitives.ReadUInt32LittleEndian(h[42..]);
            int next = p + 46 + nameLength + extraLength + commentLength;
            if (next > cd.Length) throw Damaged(name, $"central directory entry {i} runs past the directory's end");
            string entryName;
            try { entryName = new UTF8Encoding(false, true).GetString(cd, p + 46, nameLength); }
            catch (DecoderFallbackException) { throw Damaged(name, $"central directory entry {i} has a name that is not UTF-8"); }
            if (ReaderErrors.HasControlCharacters(entryName))
                throw Damaged(name, $"central directory entry {i} has a name with control characters ('{ReaderErrors.Printable(entryName)}')");
            // ZIP64: the fields stored as all-ones come, in this order, from the 0x0001 extra field.
            var extra = cd.AsSpan(p + 46 + nameLength, extraLength);
            if (usize == 0xFFFFFFFF || csize == 0xFFFFFFFF || offset == 0xFFFFFFFF || disk == 0xFFFF)
            {
                if (!Zip64Extra(extra, out int zs, out int zl)) throw Damaged(name, $"entry '{entryName}' has ZIP64 sizes but no ZIP64 extra field");
                var z = extra.Slice(zs, zl);
                int at = 0;
                if (usize == 0xFFFFFFFF) usize = Next64(z, ref at, name, entryName);
                if (csize == 0xFFFFFFFF) csize = Next64(z, ref at, name, entryName);
                if (offset == 0xFFFFFFFF) offset = Next64(z, ref at, name, entryName);
                if (disk == 0xFFFF) disk = at + 4 <= z.Length ? BinaryPrimitives.ReadUInt32LittleEndian(z[at..]) : -1;
            }
            p = next;

            string what = $"zip entry '{entryName}'";
            if (disk != 0) throw Damaged(name, $"{what} is on disk {disk}; split archives are not supported");
            if ((flags & 1) != 0) throw Damaged(name, $"{what} is encrypted");
            if (method is not (0 or 8)) throw Damaged(name, $"{what} uses compression method {method}; only stored (0) and deflate (8) are supported");
            if (!names.Add(entryName))
                throw Damaged(name, $"{what} appears twice in the central directory (torch.load and this reader would disagree on which to use)");
            if (usize < 0 || csize < 0 || offset < 0 || offset > cdOffset - 30)
                throw Damaged(name, $"{what} starts at {offset}, outside the {cdOffset} bytes before the central directory");
            if (method == 0 && csize != usize) throw Damaged(name, $"{what} is stored but declares {usize} bytes in {csize}");
            if (method == 8 && usize > csize * MaxDeflateRatio + 64)
                throw Damaged(name, $"{what} declares {usize} bytes from {csize} deflated bytes, more than deflate can produce");

            stream.Position = offset;
            stream.ReadExactly(local);
            if (BinaryPrimitives.ReadUInt32LittleEndian(local) != 0x04034b50) throw Damaged(name, $"{what} has no local header at {offset}");
            long dataOffset = offset + 30 + BinaryPrimitives.ReadUInt16LittleEndian(local[26..]) + BinaryPrimitives.ReadUInt16LittleEndian(local[28..]);
            if (csize > cdOffset - dataOffset)
                throw Damaged(name, $"{what} ({csize} bytes at {dataOffset}) runs into the central directory at {cdOffset}");
            entries.Add(new ZipEntry(entryName, method, offset, dataOffset, csize, usize));
        }

        // No two entries may share bytes: overlapping entries would let a small file inflate the same data many times.
        var sorted = entries.OrderBy(e => e.HeaderOffset).ToList();
        for (int i = 1; i < sorted.Count; i++)
            if (sorted[i].HeaderOffset < sorted[i - 1].End)
                throw Damaged(name, $"zip entries '{sorted[i - 1].Name}' and '{sorted[i].Name}' overlap (bytes {sorted[i].HeaderOffset}..{sorted[i - 1].End})");
        return new ZipDirectory(stream, name, entries, budgets.InflatedBytesFor(length));
    }

    /// <summary>The entry count, central directory offset and size, and where the end records begin.</summary>
    private static (long Count, long CdOffset, long CdSize, long CdEnd) ReadEnd(Stream stream, string name, long length)
    {
        int tailLength = (int)Math.Min(length, 22 + 0xFFFF);
        var tail = new byte[tailLength];
        stream.Position = length - tailLength;
        stream.ReadExactly(tail);
        int e = -1;
        for (int i = tailLength - 22; i >= 0; i--)
            if (BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(i)) == 0x06054b50
                && i + 22 + BinaryPrimitives.ReadUInt16LittleEndian(tail.AsSpan(i + 20)) <= tailLength)
            { e = i; break; }
        if (e < 0) throw Damaged(name, "no end-of-central-directory record");
        var end = tail.AsSpan(e);
        long eocd = length - tailLength + e;
        int disk = BinaryPrimitives.ReadUInt16LittleEndian(end[4..]), cdDisk = BinaryPrimitives.ReadUInt16LittleEndian(end[6..]);
        long count = BinaryPrimitives.ReadUInt16LittleEndian(end[10..]);
        long cdSize = BinaryPrimitives.ReadUInt32LittleEndian(end[12..]);
        long cdOffset = BinaryPrimitives.ReadUInt32LittleEndian(end[16..]);
        if (count != 0xFFFF && cdSize != 0xFFFFFFFF && cdOffset != 0xFFFFFFFF)
        {
            if (disk != 0 || cdDisk != 0) throw Damaged(name, "split (multi-disk) archives are not supported");
            return (count, cdOffset, cdSize, eocd);
        }
        // ZIP64: a 20-byte locator just before the end record points at the 56-byte ZIP64 end record.
        Span<byte> locator = stackalloc byte[20];
        if (eocd < 20) throw Damaged(name, "ZIP64 end record locator missing");
        stream.Position = eocd - 20;
        stream.ReadExactly(locator);
        long z = BinaryPrimitives.ReadInt64LittleEndian(locator[8..]);
        if (BinaryPrimitives.ReadUInt32LittleEndian(locator) != 0x07064b50 || z < 0 || z > eocd - 20 - 56)
            throw Damaged(name, "ZIP64 end record locator missing or damaged");
        Span<byte> record = stackalloc byte[56];
        stream.Position = z;
        stream.ReadExactly(record);
        if (BinaryPrimitives.ReadUInt32LittleEndian(record) != 0x06064b50) throw Damaged(name, "ZIP64 end record missing");
        if (BinaryPrimitives.ReadUInt32LittleEndian(record[16..]) != 0 || BinaryPrimitives.ReadUInt32LittleEndian(record[20..]) != 0)
            throw Damaged(name, "split (multi-disk) archives are not supported");
        count = BinaryPrimitives.ReadInt64LittleEndian(record[32..]);
        cdSize = BinaryPrimitives.ReadInt64LittleEndian(record[40..]);
        cdOffset = BinaryPrimitives.ReadInt64LittleEndian(record[48..]);
        if (count < 0 || cdSize < 0) throw Damaged(name, "ZIP64 end record has negative sizes");
        return (count, cdOffset, cdSize, z);
    }

    /// <summary>Where the ZIP64 extra field (id 0x0001) lies in an entry's extra data.</summary>
    private static bool Zip64Extra(ReadOnlySpan<byte> extra, out int start, out int length)
    {
        int at = 0;
        while (extra.Length - at >= 4)
        {
            int id = BinaryPrimitives.ReadUInt16LittleEndian(extra[at..]), size = BinaryPrimitives.ReadUInt16LittleEndian(extra[(at + 2)..]);
            if (size > extra.Length - at - 4) break;
            if (id == 1) { (start, length) = (at + 4, size); return true; }
            at += 4 + size;
        }
        (start, length) = (0, 0);
        return false;
    }

    private static long Next64(ReadOnlySpan<byte> z, ref int at, string name, string entry)
    {
        if (at + 8 > z.Length) throw Damaged(name, $"entry '{entry}' has a short ZIP64 extra field");
        long v = BinaryPrimitives.ReadInt64LittleEndian(z[at..]);
        at += 8;
        return v;
    }

    private static InvalidDataException Damaged(string name, string what) => new($"{name}: damaged zip archive: {what}");

    /// <summary>A read-only window [offset, offset + length) of a seekable stream, for the inflater.</summary>
    private sealed class Window(Stream inner, long offset, long length) : Stream
    {
        private long position;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int index, int count) => Read(buffer.AsSpan(index, count));

        public override int Read(Span<byte> buffer)
        {
            int n = (int)Math.Min(buffer.Length, length - position);
            if (n <= 0) return 0;
            inner.Position = offset + position;
            n = inner.Read(buffer[..n]);
            position += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long o, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int index, int count) => throw new NotSupportedException();
    }
}
