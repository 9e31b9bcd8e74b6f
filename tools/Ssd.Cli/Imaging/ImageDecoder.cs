using Ssd.Engine.Imaging;
using StbImageSharp;

namespace Ssd.Cli.Imaging;

/// <summary>
/// Decodes JPEG and PNG (and the other formats stb_image reads: BMP, TGA, GIF's first frame, PSD) into an
/// <see cref="RgbImage"/>. Grey is replicated to R, G and B; alpha is dropped (not blended); 16-bit PNG samples
/// are reduced to 8 bits by stb_image (the high byte), as cv2.imread(..., IMREAD_COLOR) does (checked on the fixture).
/// </summary>
public static class ImageDecoder
{
    public static RgbImage Load(string path)
    {
        byte[] data;
        try { data = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path}: cannot read the image file: {e.Message}", e);
        }
        return Decode(data, path);
    }

    /// <summary>Decodes an encoded image; <paramref name="name"/> names it in error messages.</summary>
    public static RgbImage Decode(byte[] data, string name)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Length == 0) throw new InvalidDataException($"{name}: the image file is empty");

        // Read the header first so that a corrupt or hostile size fails before anything is allocated for it.
        ImageInfo? info;
        try
        {
            using var header = new MemoryStream(data, writable: false);
            info = ImageInfo.FromStream(header);
        }
        catch (Exception e) { throw new InvalidDataException($"{name}: not a readable image ({e.Message})", e); }
        if (info is not { } i)
        {
            // stb_image also refuses sizes it cannot allocate; say so rather than "not an image" for a PNG.
            if (PngHeaderSize(data) is { } size) CheckSize(size.Width, size.Height, name);
            throw new InvalidDataException($"{name}: not a JPEG, PNG or other image format stb_image reads");
        }
        CheckSize(i.Width, i.Height, name);

        ImageResult result;
        try { result = ImageResult.FromMemory(data, ColorComponents.RedGreenBlue); }
        catch (Exception e) { throw new InvalidDataException($"{name}: broken or truncated image data ({e.Message})", e); }
        if (result?.Data is null || result.Width != i.Width || result.Height != i.Height
            || result.Data.LongLength != 3L * result.Width * result.Height)
            throw new InvalidDataException($"{name}: the decoder returned no or inconsistent pixel data");
        return new RgbImage(result.Width, result.Height, result.Data);
    }

    private static void CheckSize(int width, int height, string name)
    {
        try { RgbImage.CheckSize(width, height); }
        catch (ArgumentException e) { throw new InvalidDataException($"{name}: {e.Message}", e); }
    }

    /// <summary>Width and height from a PNG's IHDR chunk, or null when the data does not start like a PNG.</summary>
    private static (int Width, int Height)? PngHeaderSize(byte[] d)
    {
        ReadOnlySpan<byte> signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
        if (d.Length < 24 || !d.AsSpan(0, 8).SequenceEqual(signature) || !d.AsSpan(12, 4).SequenceEqual("IHDR"u8)) return null;
        uint w = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(16)), h = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(20));
        return ((int)Math.Min(w, int.MaxValue), (int)Math.Min(h, int.MaxValue));
    }
}
