using System.Buffers.Binary;

namespace Ssd.Imaging;

/// <summary>
/// The colour a GIF's first frame stores under its transparent palette index. SkiaSharp decodes those pixels as
/// transparent black; dropping alpha the way it is dropped everywhere else (the stored colour is kept, as OpenCV keeps
/// it for PNG and PIL for GIF) needs the palette entry, which is read here from the first frame's graphic control
/// extension and colour table (local, else global).
/// </summary>
internal static class GifTransparency
{
    /// <summary>The transparent colour of the first frame and the frame's rectangle, or null when it has none.</summary>
    public static (byte R, byte G, byte B, int Left, int Top, int Width, int Height)? FirstFrame(ReadOnlySpan<byte> d)
    {
        if (d.Length < 13 || !(d[..6].SequenceEqual("GIF87a"u8) || d[..6].SequenceEqual("GIF89a"u8))) return null;
        int i = 13;
        ReadOnlySpan<byte> global = default;
        if ((d[10] & 0x80) != 0)
        {
            int size = 3 << ((d[10] & 7) + 1);
            if (i + size > d.Length) return null;
            global = d.Slice(i, size);
            i += size;
        }
        int? transparent = null;
        while (i < d.Length)
        {
            switch (d[i])
            {
                case 0x21: // extension: label, then sub-blocks
                    if (i + 1 >= d.Length) return null;
                    if (d[i + 1] == 0xF9 && i + 7 < d.Length && d[i + 2] == 4)
                        transparent = (d[i + 3] & 1) != 0 ? d[i + 6] : null;
                    i += 2;
                    while (i < d.Length && d[i] != 0) i += 1 + d[i];
                    i++;
                    break;
                case 0x2C: // image descriptor of the first frame
                    if (i + 10 > d.Length || transparent is not { } index) return null;
                    int left = BinaryPrimitives.ReadUInt16LittleEndian(d[(i + 1)..]), top = BinaryPrimitives.ReadUInt16LittleEndian(d[(i + 3)..]);
                    int width = BinaryPrimitives.ReadUInt16LittleEndian(d[(i + 5)..]), height = BinaryPrimitives.ReadUInt16LittleEndian(d[(i + 7)..]);
                    byte flags = d[i + 9];
                    var table = global;
                    if ((flags & 0x80) != 0)
                    {
                        int size = 3 << ((flags & 7) + 1);
                        if (i + 10 + size > d.Length) return null;
                        table = d.Slice(i + 10, size);
                    }
                    if (3 * index + 2 >= table.Length) return null;
                    return (table[3 * index], table[3 * index + 1], table[3 * index + 2], left, top, width, height);
                default:
                    return null;
            }
        }
        return null;
    }
}
