using System.Buffers.Binary;
using Ssd.Engine.Imaging;

namespace Ssd.Imaging;

/// <summary>
/// EXIF orientation exactly as cv2.imread (OpenCV 4.6, IMREAD_COLOR) finds and applies it, so that a phone photo is
/// upright and gives the pixels OpenCV's users see:
/// <list type="bullet">
/// <item>JPEG: the FIRST APP1 segment before the scan (OpenCV keeps no other), parsed as Exif after its 6-byte
/// "Exif\0\0" header (not checked: an XMP packet in the first APP1 simply fails to parse, and no orientation applies).</item>
/// <item>PNG: the first eXIf chunk before IDAT (libpng ignores one whose data does not start with II or MM).</item>
/// <item>WebP, BMP, GIF: none (OpenCV 4.6 reads no EXIF for them).</item>
/// </list>
/// In the TIFF structure only IFD 0 is read; its tag 0x0112 gives a 16-bit value at the entry's value field (first
/// such entry wins). An IFD that runs past the data invalidates the whole EXIF block, as in OpenCV. Values 1..8 are
/// the EXIF orientations; anything else means none.
/// </summary>
public static class ExifOrientation
{
    /// <summary>Orientation 1: the stored image is upright (nothing to apply).</summary>
    public const int TopLeft = 1;
    private const ushort OrientationTag = 0x0112;

    /// <summary>The orientation (1..8) that cv2.imread applies to this encoded image; 1 when none.</summary>
    public static int Read(ReadOnlySpan<byte> encoded, EncodedImageFormat format) => format switch
    {
        EncodedImageFormat.Jpeg => FromTiff(JpegExif(encoded)),
        EncodedImageFormat.Png => FromTiff(PngExif(encoded)),
        _ => TopLeft,
    };

    /// <summary>
    /// The upright image for an EXIF orientation, the same pixel permutation as OpenCV's ApplyExifOrientation:
    /// 2 mirror left-right, 3 rotate 180, 4 mirror top-bottom, 5 transpose, 6 rotate 90 clockwise, 7 transverse,
    /// 8 rotate 90 anticlockwise. Orientation 1 (or an invalid value) returns the image itself.
    /// </summary>
    public static RgbImage Apply(RgbImage image, int orientation)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (orientation is < 2 or > 8) return image;
        int w = image.Width, h = image.Height;
        bool transpose = orientation >= 5;
        int ow = transpose ? h : w, oh = transpose ? w : h;
        // Source of output pixel (x, y): for 5..8 the transpose first (x, y) -> (y, x), then the flip OpenCV applies.
        bool flipX = orientation is 2 or 3 or 6 or 7, flipY = orientation is 3 or 4 or 7 or 8;
        var src = image.Pixels;
        var dst = new byte[src.Length];
        for (int y = 0; y < oh; y++)
        {
            int ty = flipY ? oh - 1 - y : y;
            for (int x = 0; x < ow; x++)
            {
                int tx = flipX ? ow - 1 - x : x;
                int sx = transpose ? ty : tx, sy = transpose ? tx : ty;
                int s = 3 * (sy * w + sx), d = 3 * (y * ow + x);
                dst[d] = src[s];
                dst[d + 1] = src[s + 1];
                dst[d + 2] = src[s + 2];
            }
        }
        return new RgbImage(ow, oh, dst);
    }

    /// <summary>The TIFF data of the first APP1 segment (after its 6-byte header), or empty.</summary>
    private static ReadOnlySpan<byte> JpegExif(ReadOnlySpan<byte> d)
    {
        if (d.Length < 4 || d[0] != 0xFF || d[1] != 0xD8) return default;
        int i = 2;
        while (i + 4 <= d.Length)
        {
            if (d[i] != 0xFF) return default;           // not a marker: corrupt header, the decoder will say so
            byte marker = d[i + 1];
            if (marker == 0xFF) { i++; continue; }      // fill byte
            if (marker is 0xD8 or 0x01 or >= 0xD0 and <= 0xD7) { i += 2; continue; } // markers without a length
            if (marker is 0xDA or 0xD9) return default; // start of scan / end of image: no APP1 before the data
            int length = BinaryPrimitives.ReadUInt16BigEndian(d[(i + 2)..]);
            if (length < 2 || i + 2 + length > d.Length) return default;
            if (marker == 0xE1)
            {
                var payload = d.Slice(i + 4, length - 2);
                return payload.Length > 6 ? payload[6..] : default;
            }
            i += 2 + length;
        }
        return default;
    }

    /// <summary>The data of the first eXIf chunk before IDAT, when it starts with II or MM; else empty.</summary>
    private static ReadOnlySpan<byte> PngExif(ReadOnlySpan<byte> d)
    {
        int i = 8;
        while (i + 12 <= d.Length)
        {
            uint length = BinaryPrimitives.ReadUInt32BigEndian(d[i..]);
            var type = d.Slice(i + 4, 4);
            if (length > int.MaxValue || i + 12 + (long)length > d.Length) return default;
            if (type.SequenceEqual("IDAT"u8) || type.SequenceEqual("IEND"u8)) return default;
            if (type.SequenceEqual("eXIf"u8))
            {
                var data = d.Slice(i + 8, (int)length);
                bool tiff = data.Length >= 2 && (data[0] == (byte)'I' && data[1] == (byte)'I' || data[0] == (byte)'M' && data[1] == (byte)'M');
                if (tiff) return data;
            }
            i += 12 + (int)length;
        }
        return default;
    }

    /// <summary>Tag 0x0112 of IFD 0 in a TIFF structure, or 1 when there is none or the structure does not parse.</summary>
    private static int FromTiff(ReadOnlySpan<byte> t)
    {
        if (t.Length < 8) return TopLeft;
        bool little;
        if (t[0] == (byte)'I' && t[1] == (byte)'I') little = true;
        else if (t[0] == (byte)'M' && t[1] == (byte)'M') little = false;
        else return TopLeft;
        if (U16(t, 2, little) is not 42 || U32(t, 4, little) is not { } ifd || U16(t, ifd, little) is not { } entries) return TopLeft;
        int? orientation = null;
        for (long e = 0, at = ifd + 2; e < entries; e++, at += 12)
        {
            // Every entry's tag must lie in the data: OpenCV drops the whole block when one does not.
            if (U16(t, at, little) is not { } tag) return TopLeft;
            if (tag == OrientationTag && orientation is null)
            {
                if (U16(t, at + 8, little) is not { } value) return TopLeft;
                orientation = value;
            }
        }
        return orientation is >= 1 and <= 8 ? orientation.Value : TopLeft;
    }

    private static int? U16(ReadOnlySpan<byte> t, long at, bool little) =>
        at < 0 || at + 2 > t.Length ? null : little ? BinaryPrimitives.ReadUInt16LittleEndian(t[(int)at..]) : BinaryPrimitives.ReadUInt16BigEndian(t[(int)at..]);

    private static long? U32(ReadOnlySpan<byte> t, long at, bool little) =>
        at < 0 || at + 4 > t.Length ? null : little ? BinaryPrimitives.ReadUInt32LittleEndian(t[(int)at..]) : BinaryPrimitives.ReadUInt32BigEndian(t[(int)at..]);
}
