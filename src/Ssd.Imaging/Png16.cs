using System.Buffers.Binary;
using System.IO.Compression;
using Ssd.Engine.Imaging;

namespace Ssd.Imaging;

/// <summary>
/// 16-bit PNG, the one case SkiaSharp cannot decode as OpenCV does: its codec has no 16-bit integer output and rounds
/// 16-bit samples to 8 bits (v / 257), where libpng's strip_16 under cv2.imread keeps the high byte (v &gt;&gt; 8). So
/// 16-bit PNGs (grey, grey + alpha, RGB, RGBA; plain or Adam7) are inflated (System.IO.Compression) and unfiltered
/// here, and reduced as OpenCV reduces them: the high byte of each sample, grey replicated, alpha dropped.
/// The inflated size is known from the header and nothing beyond it is read; a missing or damaged chunk, a CRC
/// mismatch, or too little data is an error, never an image with made-up rows.
/// </summary>
internal static class Png16
{
    private static readonly (int X0, int Y0, int Dx, int Dy)[] Adam7 =
        [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)];

    /// <summary>The bit depth in a PNG's IHDR (byte 24), or 0 when the data does not start like a PNG.</summary>
    public static int BitDepth(ReadOnlySpan<byte> d) =>
        d.Length >= 29 && d[..8].SequenceEqual(Signature) && d.Slice(12, 4).SequenceEqual("IHDR"u8) ? d[24] : 0;

    private static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    public static RgbImage Decode(ReadOnlySpan<byte> d, string name)
    {
        int width = (int)BinaryPrimitives.ReadUInt32BigEndian(d[16..]), height = (int)BinaryPrimitives.ReadUInt32BigEndian(d[20..]);
        byte colourType = d[25], interlace = d[28];
        int channels = colourType switch { 0 => 1, 4 => 2, 2 => 3, 6 => 4, _ => throw new InvalidDataException($"{name}: corrupt PNG header: colour type {colourType} at 16 bits") };
        if (d[26] != 0 || d[27] != 0 || interlace > 1) throw new InvalidDataException($"{name}: corrupt PNG header: unknown compression, filter or interlace method");
        int bpp = 2 * channels;

        // The scanlines, filter byte first, pass after pass: exactly this many bytes must inflate.
        var passes = interlace == 0 ? [(0, 0, 1, 1)] : Adam7;
        long expected = 0;
        foreach (var (x0, y0, dx, dy) in passes)
        {
            long pw = (width - x0 + dx - 1) / dx, ph = (height - y0 + dy - 1) / dy;
            if (pw > 0 && ph > 0) expected += ph * (1 + pw * bpp);
        }
        var raw = new byte[expected];
        using (var zlib = new ZLibStream(new MemoryStream(Idat(d, name)), CompressionMode.Decompress))
        {
            int got;
            try { got = zlib.ReadAtLeast(raw, raw.Length, throwOnEndOfStream: false); }
            catch (InvalidDataException e) { throw new InvalidDataException($"{name}: corrupt image data ({e.Message})", e); }
            if (got < raw.Length) throw new InvalidDataException($"{name}: truncated image: the data ends before the last pixel row (no pixels are made up for the rest)");
        }

        var rgb = new byte[3L * width * height];
        int at = 0;
        foreach (var (x0, y0, dx, dy) in passes)
        {
            int pw = (width - x0 + dx - 1) / dx, ph = (height - y0 + dy - 1) / dy;
            if (pw <= 0 || ph <= 0) continue;
            int stride = pw * bpp;
            var previous = new byte[stride];
            var row = new byte[stride];
            for (int py = 0; py < ph; py++)
            {
                byte filter = raw[at];
                raw.AsSpan(at + 1, stride).CopyTo(row);
                at += 1 + stride;
                Unfilter(filter, row, previous, bpp, name);
                int y = y0 + py * dy;
                for (int px = 0; px < pw; px++)
                {
                    int s = px * bpp, o = 3 * (y * width + x0 + px * dx);
                    // High bytes (big-endian samples: the first of each pair); grey is replicated, alpha dropped.
                    byte r = row[s], g = channels >= 3 ? row[s + 2] : r, b = channels >= 3 ? row[s + 4] : r;
                    (rgb[o], rgb[o + 1], rgb[o + 2]) = (r, g, b);
                }
                (previous, row) = (row, previous);
            }
        }
        return new RgbImage(width, height, rgb);
    }

    /// <summary>The concatenated IDAT data (each chunk's CRC checked); the chunks must come before IEND and in one run.</summary>
    private static byte[] Idat(ReadOnlySpan<byte> d, string name)
    {
        var data = new MemoryStream();
        int i = 8;
        bool inIdat = false, done = false;
        while (!done)
        {
            if (i + 12 > d.Length) throw new InvalidDataException($"{name}: truncated image: the data ends before the last pixel row (no pixels are made up for the rest)");
            uint length = BinaryPrimitives.ReadUInt32BigEndian(d[i..]);
            if (length > int.MaxValue || i + 12 + (long)length > d.Length)
                throw new InvalidDataException($"{name}: truncated image: the data ends before the last pixel row (no pixels are made up for the rest)");
            var type = d.Slice(i + 4, 4);
            var chunk = d.Slice(i + 4, 4 + (int)length);
            bool idat = type.SequenceEqual("IDAT"u8);
            if (idat)
            {
                if (BinaryPrimitives.ReadUInt32BigEndian(d[(i + 8 + (int)length)..]) != Crc32(chunk))
                    throw new InvalidDataException($"{name}: corrupt image data (IDAT CRC mismatch)");
                data.Write(d.Slice(i + 8, (int)length));
                inIdat = true;
            }
            else if (inIdat || type.SequenceEqual("IEND"u8)) done = true;
            i += 12 + (int)length;
        }
        if (data.Length == 0) throw new InvalidDataException($"{name}: corrupt PNG: no image data (IDAT)");
        return data.ToArray();
    }

    private static void Unfilter(byte filter, Span<byte> row, ReadOnlySpan<byte> prior, int bpp, string name)
    {
        switch (filter)
        {
            case 0: break;
            case 1: for (int i = bpp; i < row.Length; i++) row[i] += row[i - bpp]; break;
            case 2: for (int i = 0; i < row.Length; i++) row[i] += prior[i]; break;
            case 3:
                for (int i = 0; i < row.Length; i++) row[i] += (byte)(((i >= bpp ? row[i - bpp] : 0) + prior[i]) >> 1);
                break;
            case 4:
                for (int i = 0; i < row.Length; i++)
                {
                    int a = i >= bpp ? row[i - bpp] : 0, b = prior[i], c = i >= bpp ? prior[i - bpp] : 0;
                    int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
                    row[i] += (byte)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
                }
                break;
            default: throw new InvalidDataException($"{name}: corrupt image data (PNG filter type {filter})");
        }
    }

    private static readonly uint[] CrcTable = Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    /// <summary>PNG's CRC-32 of a chunk's type and data.</summary>
    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (var b in data) crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return ~crc;
    }
}
