using System.Buffers.Binary;
using System.Text.Json;
using Ssd.Engine.Imaging;
using Ssd.Imaging;
using Ssd.Tests.Weights;

namespace Ssd.Tests.Imaging;

/// <summary>
/// The SkiaSharp decoder against cv2.imread (IMREAD_COLOR) on every kind of file it reads: JPEG (subsampling,
/// progressive, grey, CMYK, EXIF orientations 1..8 and OpenCV's first-APP1 rule), PNG (every colour type, 1 to 16
/// bits, palettes with transparency, Adam7, eXIf), WebP (lossless, lossy, alpha; no orientation in OpenCV 4.6), BMP
/// and GIF (PIL's first frame: OpenCV 4.6 reads no GIF). Fixtures: tools/fixtures/make_decode_fixtures.py.
/// </summary>
public class ImageDecoderTests
{
    private static string Dir => Path.Combine(WeightsPaths.Fixtures, "images", "decode");

    public sealed record Case(string Name, string File, int Width, int Height, string Reference, int Tolerance, string Note)
    {
        public override string ToString() => Name;
    }

    public static IEnumerable<TestCaseData> Cases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "manifest.json")));
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
            yield return new TestCaseData(new Case(c.GetProperty("name").GetString()!, c.GetProperty("file").GetString()!,
                c.GetProperty("width").GetInt32(), c.GetProperty("height").GetInt32(), c.GetProperty("reference").GetString()!,
                c.GetProperty("tolerance").GetInt32(), c.GetProperty("note").GetString()!)).SetArgDisplayNames(c.GetProperty("name").GetString()!);
    }

    [TestCaseSource(nameof(Cases))]
    public void DecodesLikeTheReference(Case c)
    {
        var image = ImageDecoder.Load(Path.Combine(Dir, c.File));
        var expected = File.ReadAllBytes(Path.Combine(Dir, c.Name + ".ref"));
        Assert.That((image.Width, image.Height), Is.EqualTo((c.Width, c.Height)), $"{c.Name}: size ({c.Note})");
        int worst = 0, differ = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            int d = Math.Abs(image.Pixels[i] - expected[i]);
            if (d > 0) differ++;
            worst = Math.Max(worst, d);
        }
        TestContext.Out.WriteLine($"{c.Name} vs {c.Reference}: {differ} of {expected.Length} bytes differ, by at most {worst} ({c.Note})");
        Assert.That(worst, Is.LessThanOrEqualTo(c.Tolerance), $"{c.Name}: {differ} bytes differ from {c.Reference}, by up to {worst}");
    }

    [Test]
    public void StreamsSpansAndFilesDecodeAlike()
    {
        var path = Path.Combine(Dir, "jpeg_orientation_6.jpg");
        var bytes = File.ReadAllBytes(path);
        var fromFile = ImageDecoder.Load(path);
        using var unseekable = new UnseekableStream(bytes);
        Assert.That(ImageDecoder.Decode(unseekable, "s").Pixels, Is.EqualTo(fromFile.Pixels));
        Assert.That(ImageDecoder.Decode(bytes.AsSpan()).Pixels, Is.EqualTo(fromFile.Pixels));
        var header = ImageDecoder.ReadHeader(bytes);
        Assert.That((header.Format, header.Orientation, header.Width, header.Height, header.StoredWidth), Is.EqualTo((EncodedImageFormat.Jpeg, 6, 32, 48, 48)));
    }

    /// <summary>
    /// issue 16 item 3: `head -c 200 shapes_002.jpg` was decoded from uninitialised memory. Now a cut in the header or
    /// the pixel data is an error naming the file; a cut near the end that decodes at all must give exactly the pixels
    /// of the whole file (only bytes no pixel depends on were lost), and every decode of the same bytes is the same.
    /// </summary>
    [TestCase("jpeg_420.jpg")]
    [TestCase("jpeg_progressive.jpg")]
    [TestCase("png_rgb.png")]
    [TestCase("png_interlaced.png")]
    [TestCase("png_rgb16.png")]
    [TestCase("png_rgb16_interlaced.png")]
    [TestCase("webp_lossy.webp")]
    [TestCase("webp_lossless.webp")]
    [TestCase("bmp_24.bmp")]
    [TestCase("gif_static.gif")]
    public void TruncatedFilesAreErrorsNeverMadeUpPixels(string file)
    {
        var data = File.ReadAllBytes(Path.Combine(Dir, file));
        var whole = ImageDecoder.Decode(data).Pixels;
        foreach (int n in new[] { 1, 8, 20, 60, data.Length / 3, data.Length / 2, data.Length * 3 / 4 }.Distinct())
        {
            var e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(data.AsSpan(0, n), $"cut{n}.{file}"), $"{file} cut to {n} of {data.Length} bytes")!;
            Assert.That(e.Message, Does.StartWith($"cut{n}.{file}: "));
        }
        for (int n = data.Length * 3 / 4; n < data.Length; n++)
        {
            RgbImage? cut = null;
            try { cut = ImageDecoder.Decode(data.AsSpan(0, n), "cut"); }
            catch (InvalidDataException) { }
            if (cut is not null) Assert.That(cut.Pixels, Is.EqualTo(whole), $"{file} cut to {n} of {data.Length} bytes decodes to other pixels");
        }
    }

    [Test]
    public void TheExampleJpegCutTo200BytesIsAnError()
    {
        var data = File.ReadAllBytes(Path.Combine(WeightsPaths.RepoRoot, "examples", "shapes", "shapes_002.jpg"))[..200];
        var e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(data, "cut.jpg"))!;
        Assert.That(e.Message, Is.EqualTo("cut.jpg: truncated image: the data ends inside the header"));
    }

    [Test]
    public void CorruptAndForeignDataAreErrors()
    {
        Assert.That(Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode([], "empty.png"))!.Message, Does.Contain("empty.png").And.Contain("empty"));
        Assert.That(Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode("hello, not an image"u8.ToArray(), "text.jpg"))!.Message,
            Is.EqualTo("text.jpg: not an image this decoder reads (JPEG, PNG, WebP, BMP or GIF)"));
        // A PNG whose IHDR is damaged (its CRC no longer matches).
        var png = File.ReadAllBytes(Path.Combine(Dir, "png_rgb.png"));
        png[17] ^= 0x55;
        Assert.That(Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(png, "crc.png"))!.Message, Does.StartWith("crc.png: "));
    }

    /// <summary>A valid PNG whose IHDR declares a huge size: refused from the header, before any pixel memory.</summary>
    [Test]
    public void DecompressionBombsAreRefusedBeforeDecoding()
    {
        var png = PngWithSize(File.ReadAllBytes(Path.Combine(Dir, "png_rgb.png")), 40000, 40000);
        var e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(png, "huge.png"))!;
        Assert.That(e.Message, Does.Contain("huge.png").And.Contain("40000x40000").And.Contain("ImageLimits.MaxPixels"));
        // A real bomb: a 6000 x 6000 black PNG is ~100 KB; a budget of 16 Mpx refuses it, the default takes it.
        var bomb = ImageEncoder.EncodePng(new RgbImage(6000, 6000));
        Assert.That(bomb.Length, Is.LessThan(1 << 20));
        long before = GC.GetTotalAllocatedBytes(precise: true);
        e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(bomb, "bomb.png", new ImageLimits { MaxPixels = 16_000_000 }))!;
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.That(e.Message, Does.Contain("36,000,000 pixels").And.Contain("16,000,000-pixel budget"));
        Assert.That(allocated, Is.LessThan(4L * bomb.Length + (1 << 20)), "refused without decoding");
        Assert.That(ImageDecoder.Decode(bomb, "bomb.png").Width, Is.EqualTo(6000));
    }

    /// <summary>
    /// Every format's header forged to claim a huge image (BMP and GIF 40000 x 40000 / 65535 x 65535, WebP lossy and
    /// lossless 16383 x 16383, the most the format holds), the data left a few KB: each is refused from its header by
    /// the default budget, named, before any pixel memory is taken.
    /// </summary>
    [TestCase("bmp_24.bmp", 40000, 40000)]
    [TestCase("gif_static.gif", 65535, 65535)]
    [TestCase("webp_lossy.webp", 16383, 16383)]
    [TestCase("webp_lossless.webp", 16383, 16383)]
    public void ForgedHugeHeadersOfEveryFormatAreRefused(string file, int width, int height)
    {
        var data = File.ReadAllBytes(Path.Combine(Dir, file));
        switch (Path.GetExtension(file))
        {
            case ".bmp": // BITMAPINFOHEADER: width and height, int32 little-endian
                BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(18), width);
                BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(22), height);
                break;
            case ".gif": // the logical screen and the first image descriptor (after the global colour table)
                BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(6), (ushort)width);
                BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(8), (ushort)height);
                int table = (data[10] & 0x80) != 0 ? 3 << ((data[10] & 7) + 1) : 0, at = 13 + table;
                while (data[at] == 0x21) { at += 2; while (data[at] != 0) at += data[at] + 1; at++; } // extensions
                Assert.That(data[at], Is.EqualTo(0x2C), "image descriptor");
                BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(at + 5), (ushort)width);
                BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(at + 7), (ushort)height);
                break;
            case ".webp" when data[15] == (byte)' ': // VP8 key frame: 14-bit width and height after the start code
                Assert.That(data.AsSpan(23, 3).ToArray(), Is.EqualTo(new byte[] { 0x9D, 0x01, 0x2A }), "VP8 start code");
                BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(26), (ushort)width);
                BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(28), (ushort)height);
                break;
            case ".webp": // VP8L: 0x2F, then width - 1 and height - 1 in 14 bits each, alpha and version kept
                Assert.That(data[20], Is.EqualTo(0x2F), "VP8L signature");
                uint bits = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(21)) & 0xF000_0000u;
                BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(21), bits | (uint)(width - 1) | (uint)(height - 1) << 14);
                break;
        }
        var header = ImageDecoder.ReadHeader(data, file);
        Assert.That((header.StoredWidth, header.StoredHeight), Is.EqualTo((width, height)), "the forged header is what the decoder reads");
        long before = GC.GetTotalAllocatedBytes(precise: true);
        var e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(data, file))!;
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.That(e.Message, Does.StartWith($"{file}: the image is {width}x{height} = ").And.Contain("budget per image").And.EndWith("refused before decoding"));
        Assert.That(allocated, Is.LessThan(4L * data.Length + (1 << 20)), "refused without decoding");
    }

    [Test]
    public void ImageFilesAreReadSafely()
    {
        var dir = Directory.CreateTempSubdirectory("ssd-imagefile-");
        try
        {
            Assert.That(Assert.Throws<InvalidDataException>(() => ImageFile.ReadAllBytes(dir.FullName))!.Message, Does.Contain("is a folder"));
            Assert.That(Assert.Throws<InvalidDataException>(() => ImageFile.ReadAllBytes(Path.Combine(dir.FullName, "no.png")))!.Message, Does.Contain("no such file"));
            var empty = Path.Combine(dir.FullName, "empty.png");
            File.WriteAllBytes(empty, []);
            Assert.That(Assert.Throws<InvalidDataException>(() => ImageFile.ReadAllBytes(empty))!.Message, Does.Contain("empty"));
            var big = Path.Combine(dir.FullName, "big.jpg");
            File.WriteAllBytes(big, new byte[5000]);
            Assert.That(Assert.Throws<InvalidDataException>(() => ImageFile.ReadAllBytes(big, new ImageLimits { MaxFileBytes = 4096 }))!.Message,
                Does.Contain("5,000 bytes").And.Contain("MaxFileBytes"));
            using var stream = new UnseekableStream(new byte[5000]);
            Assert.That(Assert.Throws<InvalidDataException>(() => ImageFile.ReadAllBytes(stream, "s", new ImageLimits { MaxFileBytes = 4096 }))!.Message,
                Does.Contain("MaxFileBytes"));
            if (OperatingSystem.IsLinux())
            {
                // A device never ends and a FIFO blocks its reader: both refused without reading (this would hang otherwise).
                Assert.That(Assert.Throws<InvalidDataException>(() => ImageFile.ReadAllBytes("/dev/zero"))!.Message, Does.Contain("not a regular file"));
                var fifo = Path.Combine(dir.FullName, "pipe.jpg");
                Assert.That(MakeFifo(fifo), "mkfifo");
                Assert.That(Assert.Throws<InvalidDataException>(() => ImageFile.ReadAllBytes(fifo))!.Message, Does.Contain("not a regular file"));
            }
        }
        finally { dir.Delete(recursive: true); }
    }

    [Test]
    public void RawPixelBuffersInEveryLayoutAndStride()
    {
        var rng = new Random(3);
        int w = 5, h = 3;
        var rgb = new byte[w * h * 3];
        rng.NextBytes(rgb);
        foreach (var layout in Enum.GetValues<PixelLayout>())
        {
            int bpp = layout.BytesPerPixel(), stride = w * bpp + 7;
            var raw = new byte[stride * h];
            rng.NextBytes(raw); // padding and alpha hold noise, which must not leak in
            bool bgr = layout is PixelLayout.Bgr24 or PixelLayout.Bgra32;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    int s = 3 * (y * w + x), d = y * stride + x * bpp;
                    raw[d] = rgb[s + (bgr ? 2 : 0)];
                    raw[d + 1] = rgb[s + 1];
                    raw[d + 2] = rgb[s + (bgr ? 0 : 2)];
                }
            Assert.That(RgbImage.FromPixels(raw, w, h, layout, stride).Pixels, Is.EqualTo(rgb), layout.ToString());
        }
        Assert.That(RgbImage.FromPixels(rgb, w, h, PixelLayout.Rgb24).Pixels, Is.EqualTo(rgb), "stride 0 means packed rows");
        Assert.Throws<ArgumentException>(() => RgbImage.FromPixels(rgb, w, h, PixelLayout.Rgb24, stride: 14));
        Assert.Throws<ArgumentException>(() => RgbImage.FromPixels(rgb.AsSpan(1), w, h, PixelLayout.Rgb24));
        Assert.Throws<ArgumentException>(() => RgbImage.FromPixels(rgb, 0, h, PixelLayout.Rgb24));
    }

    [Test]
    public void EncodedImagesRoundTrip()
    {
        var rng = new Random(7);
        var pixels = new byte[7 * 5 * 3];
        rng.NextBytes(pixels);
        var image = new RgbImage(7, 5, pixels);
        Assert.That(ImageDecoder.Decode(ImageEncoder.EncodePng(image)).Pixels, Is.EqualTo(pixels));
        Assert.That(ImageDecoder.Decode(ImageEncoder.Encode(image, EncodedImageFormat.WebP, 100)).Width, Is.EqualTo(7));
        var dir = Directory.CreateTempSubdirectory("ssd-encode-");
        try
        {
            var path = Path.Combine(dir.FullName, "out.jpg");
            ImageEncoder.Save(image, path);
            Assert.That(ImageDecoder.Load(path).Width, Is.EqualTo(7));
            Assert.That(Directory.GetFiles(dir.FullName), Has.Length.EqualTo(1), "no temporary file left");
            Assert.Throws<ArgumentException>(() => ImageEncoder.Save(image, Path.Combine(dir.FullName, "out.gif")));
        }
        finally { dir.Delete(recursive: true); }
    }

    internal static byte[] PngWithSize(byte[] png, uint width, uint height)
    {
        png = (byte[])png.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(16), width);
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(20), height);
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(29), Crc32(png.AsSpan(12, 17)));
        return png;
    }

    /// <summary>PNG's CRC-32 (polynomial 0xEDB88320), bit by bit.</summary>
    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (var b in data) { crc ^= b; for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (uint)-(int)(crc & 1)); }
        return ~crc;
    }

    private static bool MakeFifo(string path)
    {
        using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("mkfifo", path) { UseShellExecute = false })!;
        p.WaitForExit();
        return p.ExitCode == 0;
    }

    internal sealed class UnseekableStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => base.Position; set => throw new NotSupportedException(); }
    }
}
