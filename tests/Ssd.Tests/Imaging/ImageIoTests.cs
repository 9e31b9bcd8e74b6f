using Ssd.Cli.Imaging;
using Ssd.Engine.Imaging;
using Ssd.Tests.Weights;
using StbImageWriteSharp;

namespace Ssd.Tests.Imaging;

public class ImageIoTests
{
    private static byte[] Encode(byte[] pixels, int w, int h, ColorComponents comp, bool jpeg = false)
    {
        using var s = new MemoryStream();
        var writer = new ImageWriter();
        if (jpeg) writer.WriteJpg(pixels, w, h, comp, s, 100); else writer.WritePng(pixels, w, h, comp, s);
        return s.ToArray();
    }

    private static byte[] Pattern(int n, int seed) { var a = new byte[n]; new Random(seed).NextBytes(a); return a; }

    [Test]
    public void DecodesRgbPngExactly()
    {
        var rgb = Pattern(5 * 4 * 3, 1);
        var img = ImageDecoder.Decode(Encode(rgb, 5, 4, ColorComponents.RedGreenBlue), "rgb.png");
        Assert.That((img.Width, img.Height), Is.EqualTo((5, 4)));
        Assert.That(img.Pixels, Is.EqualTo(rgb));
    }

    [Test]
    public void DecodesGreyAndGreyAlphaAndRgbaPng()
    {
        var grey = Pattern(6 * 3, 2);
        var g = ImageDecoder.Decode(Encode(grey, 6, 3, ColorComponents.Grey), "grey.png");
        for (int i = 0; i < grey.Length; i++) Assert.That(g.Pixels.AsSpan(3 * i, 3).ToArray(), Is.EqualTo(new[] { grey[i], grey[i], grey[i] }));

        var ga = Pattern(6 * 3 * 2, 3);
        var gaImg = ImageDecoder.Decode(Encode(ga, 6, 3, ColorComponents.GreyAlpha), "ga.png");
        for (int i = 0; i < 18; i++) Assert.That(gaImg.Pixels[3 * i + 1], Is.EqualTo(ga[2 * i]), "alpha dropped, grey kept");

        var rgba = Pattern(4 * 4 * 4, 4);
        var rgbaImg = ImageDecoder.Decode(Encode(rgba, 4, 4, ColorComponents.RedGreenBlueAlpha), "rgba.png");
        for (int i = 0; i < 16; i++)
            Assert.That(rgbaImg.Pixels.AsSpan(3 * i, 3).ToArray(), Is.EqualTo(rgba.AsSpan(4 * i, 3).ToArray()));
    }

    [Test]
    public void DecodesJpegApproximately()
    {
        // A smooth image survives JPEG at quality 100 within a few levels.
        var rgb = new byte[16 * 16 * 3];
        for (int y = 0; y < 16; y++) for (int x = 0; x < 16; x++) { int i = 3 * (16 * y + x); rgb[i] = (byte)(x * 8); rgb[i + 1] = (byte)(y * 8); rgb[i + 2] = 100; }
        var img = ImageDecoder.Decode(Encode(rgb, 16, 16, ColorComponents.RedGreenBlue, jpeg: true), "smooth.jpg");
        Assert.That((img.Width, img.Height), Is.EqualTo((16, 16)));
        for (int i = 0; i < rgb.Length; i++) Assert.That(Math.Abs(img.Pixels[i] - rgb[i]), Is.LessThanOrEqualTo(8), $"byte {i}");
    }

    [Test]
    public void Decodes16BitPngToTheHighByte()
    {
        // Fixtures from tools/fixtures/make_image_fixtures.py: sample = x*16000 + y*4000 + c*1000 + 77.
        var dir = Path.Combine(WeightsPaths.Fixtures, "images");
        var grey = ImageDecoder.Load(Path.Combine(dir, "gray16.png"));
        var rgb = ImageDecoder.Load(Path.Combine(dir, "rgb16.png"));
        for (int y = 0; y < 3; y++)
        for (int x = 0; x < 4; x++)
        for (int c = 0; c < 3; c++)
        {
            Assert.That(grey.Pixels[3 * (4 * y + x) + c], Is.EqualTo((x * 16000 + y * 4000 + 77) >> 8), $"grey ({x},{y})");
            Assert.That(rgb.Pixels[3 * (4 * y + x) + c], Is.EqualTo((x * 16000 + y * 4000 + c * 1000 + 77) >> 8), $"rgb ({x},{y},{c})");
        }
    }

    [Test]
    public void BrokenFilesGiveClearErrors()
    {
        var png = Encode(Pattern(8 * 8 * 3, 5), 8, 8, ColorComponents.RedGreenBlue);
        var e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode([], "empty.png"))!;
        Assert.That(e.Message, Does.Contain("empty.png").And.Contain("empty"));
        e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode("hello, not an image"u8.ToArray(), "text.jpg"))!;
        Assert.That(e.Message, Does.Contain("text.jpg"));
        e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(png[..(png.Length / 2)], "half.png"))!;
        Assert.That(e.Message, Does.Contain("half.png"));
        var missing = Path.Combine(Path.GetTempPath(), "ssd-no-such-image.png");
        e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Load(missing))!;
        Assert.That(e.Message, Does.Contain(missing));
    }

    [Test]
    public void AbsurdSizesAreRefusedBeforeDecoding()
    {
        // A valid PNG whose IHDR claims 40000 x 40000 pixels (CRC recomputed so only the size is wrong).
        var png = Encode(Pattern(2 * 2 * 3, 6), 2, 2, ColorComponents.RedGreenBlue);
        WriteBigEndian(png, 16, 40000); WriteBigEndian(png, 20, 40000);
        WriteBigEndian(png, 29, Crc32(png.AsSpan(12, 17)));
        var e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(png, "huge.png"))!;
        Assert.That(e.Message, Does.Contain("huge.png").And.Contain("40000"));
        // 20000 x 20000 is within the side limit but beyond 2^28 pixels.
        WriteBigEndian(png, 16, 20000); WriteBigEndian(png, 20, 20000);
        WriteBigEndian(png, 29, Crc32(png.AsSpan(12, 17)));
        e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(png, "many.png"))!;
        Assert.That(e.Message, Does.Contain("many.png").And.Contain("20000"));
    }

    /// <summary>PNG's CRC-32 (polynomial 0xEDB88320), bit by bit.</summary>
    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (var b in data) { crc ^= b; for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (uint)-(int)(crc & 1)); }
        return ~crc;
    }

    private static void WriteBigEndian(byte[] a, int at, uint v) { a[at] = (byte)(v >> 24); a[at + 1] = (byte)(v >> 16); a[at + 2] = (byte)(v >> 8); a[at + 3] = (byte)v; }

    [Test]
    public void EncodedPngRoundTrips()
    {
        var img = new RgbImage(7, 5, Pattern(7 * 5 * 3, 7));
        var back = ImageDecoder.Decode(ImageEncoder.EncodePng(img), "roundtrip.png");
        Assert.That(back.Pixels, Is.EqualTo(img.Pixels));
        var path = Path.Combine(Path.GetTempPath(), $"ssd-annot-{Guid.NewGuid():N}.jpg");
        try { ImageEncoder.Save(img, path); Assert.That(ImageDecoder.Load(path).Width, Is.EqualTo(7)); }
        finally { File.Delete(path); }
        Assert.Throws<ArgumentException>(() => ImageEncoder.Save(img, "out.gif"));
    }

    [Test]
    public void RgbImageRejectsBadSizes()
    {
        Assert.Throws<ArgumentException>(() => new RgbImage(0, 5));
        Assert.Throws<ArgumentException>(() => new RgbImage(40000, 1));
        Assert.Throws<ArgumentException>(() => new RgbImage(2, 2, new byte[11]));
    }
}
