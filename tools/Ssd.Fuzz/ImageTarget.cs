using System.Buffers.Binary;
using Ssd.Imaging;

namespace Ssd.Fuzz;

/// <summary>
/// The image decoder (Ssd.Imaging, SkiaSharp) through its public entry points: ImageDecoder.ReadHeader, then
/// ImageDecoder.Decode with the default budgets. Its documented error is <see cref="InvalidDataException"/>; the
/// oracle is that the decoded image has the size the header declares (after the EXIF orientation).
/// </summary>
public sealed class ImageTarget : FuzzTarget
{
    public override string Name => "image";
    public override string Description => "ImageDecoder: JPEG (real photos, the example's), PNG, GIF, WebP, BMP of every kind the decoder reads; PNG chunk-aware mutations";

    public override IReadOnlyList<byte[]> Seeds(FuzzContext c)
    {
        var decode = Path.Combine(c.Fixtures, "images", "decode");
        return
        [
            .. new[] { "*.jpg", "*.png", "*.gif", "*.webp", "*.bmp" }.SelectMany(p => c.Files(decode, p)),
            .. c.Files(Path.Combine(c.RepoRoot, "examples", "shapes"), "*.jpg"),
            .. c.Files(Path.Combine(c.SharedRoot, "images"), "*.jpg"),
        ];
    }

    public override byte[] Mutate(byte[] seed, Random rng, IReadOnlyList<byte[]> seeds) => Mutators.Image(seed, rng, seeds);

    public override IReadOnlyCollection<string> Run(byte[] input, string scratch)
    {
        var header = ImageDecoder.ReadHeader(input, "fuzz.img");
        var image = ImageDecoder.Decode(input, "fuzz.img");
        if (image.Width != header.Width || image.Height != header.Height)
            throw new FuzzOracleException($"the header declares {header.Width}x{header.Height}, the decoder made {image.Width}x{image.Height}");
        return [];
    }

    public override bool IsDocumented(Exception e) => e is InvalidDataException;
}

public static partial class Mutators
{
    private static readonly byte[] PngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>
    /// Image files: byte mutations, and for PNGs (whose chunks carry CRCs that the decoder checks, so that byte
    /// mutations rarely get past them) a chunk rewritten with a valid CRC: its data mutated, IHDR's width, height,
    /// depth or colour type changed, a chunk dropped, repeated or the file cut after one.
    /// </summary>
    public static byte[] Image(byte[] seed, Random rng, IReadOnlyList<byte[]> seeds)
    {
        if (!seed.AsSpan().StartsWith(PngSignature) || rng.Next(3) == 0) return Bytes(seed, rng, seeds);
        var chunks = new List<(string Type, byte[] Data)>();
        for (int at = 8; at + 12 <= seed.Length;)
        {
            long length = BinaryPrimitives.ReadUInt32BigEndian(seed.AsSpan(at));
            if (at + 12 + length > seed.Length) break;
            chunks.Add((System.Text.Encoding.ASCII.GetString(seed, at + 4, 4), seed.AsSpan(at + 8, (int)length).ToArray()));
            at += 12 + (int)length;
        }
        if (chunks.Count == 0) return Bytes(seed, rng, seeds);
        int k = rng.Next(chunks.Count);
        switch (rng.Next(6))
        {
            case 0: case 1: chunks[k] = (chunks[k].Type, Bytes(chunks[k].Data, rng, seeds)); break;
            case 2:
                if (chunks[0] is ("IHDR", { Length: 13 } ihdr))
                {
                    var d = (byte[])ihdr.Clone();
                    int field = rng.Next(3);
                    if (field < 2) BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(4 * field), (uint)Interesting[rng.Next(Interesting.Length)]);
                    else d[8 + rng.Next(5)] = (byte)Interesting[rng.Next(Interesting.Length)];
                    chunks[0] = ("IHDR", d);
                }
                break;
            case 3: chunks.RemoveAt(k); break;
            case 4: chunks.Insert(k, chunks[k]); break;
            default: chunks.RemoveRange(k + 1, chunks.Count - k - 1); break;
        }
        var output = new MemoryStream();
        output.Write(PngSignature);
        Span<byte> word = stackalloc byte[4];
        foreach (var (type, data) in chunks)
        {
            BinaryPrimitives.WriteUInt32BigEndian(word, (uint)data.Length);
            output.Write(word);
            var typed = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
            output.Write(typed);
            BinaryPrimitives.WriteUInt32BigEndian(word, ZipBuilder.Crc32(typed));
            output.Write(word);
        }
        return output.ToArray();
    }
}
