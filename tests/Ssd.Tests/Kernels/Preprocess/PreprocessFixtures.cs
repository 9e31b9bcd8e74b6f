using System.Security.Cryptography;
using System.Text.Json;
using Ssd.Tests.Weights;

namespace Ssd.Tests.Kernels.Preprocess;

/// <summary>
/// The fixtures of tools/fixtures/make_preprocess_fixtures.py: cv2.resize and torchvision transform outputs of
/// synthetic images. Small outputs are stored whole, large ones as a SHA-256 plus every Stride-th value.
/// </summary>
public static class PreprocessFixtures
{
    public sealed record Case(string Method, int SrcWidth, int SrcHeight, int Seed, int DstWidth, int DstHeight,
        string Sha256, int Count, int Stride, byte[] Stored)
    {
        public override string ToString() => $"{Method} {SrcWidth}x{SrcHeight} -> {DstWidth}x{DstHeight}";
        public bool IsWhole => Stride == 1;
        public float[] StoredFloats() => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(Stored).ToArray();
    }

    private static readonly Lazy<Case[]> cases = new(Load);

    public static IEnumerable<Case> OpenCv => cases.Value.Where(c => c.Method == "opencv-linear");
    public static IEnumerable<Case> Torch => cases.Value.Where(c => c.Method == "torch-bilinear");

    /// <summary>torchvision 0.14 ssd300_vgg16 image_mean and image_std, as the fixture script used them.</summary>
    public static readonly float[] TorchvisionMean = [0.48235f, 0.45882f, 0.40784f];
    public static readonly float[] TorchvisionStd = [(float)(1.0 / 255), (float)(1.0 / 255), (float)(1.0 / 255)];

    public static string Sha256(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(SHA256.HashData(data));

    private static Case[] Load()
    {
        var dir = Path.Combine(FixtureRoot(), "preprocess");
        var data = File.ReadAllBytes(Path.Combine(dir, "data.bin"));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "index.json")));
        var list = new List<Case>();
        foreach (var e in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            var src = e.GetProperty("src"); var dst = e.GetProperty("dst");
            int count = e.GetProperty("count").GetInt32(), stride = e.GetProperty("stride").GetInt32();
            int elem = e.GetProperty("dtype").GetString() == "float32" ? 4 : 1;
            int stored = stride == 1 ? count : e.GetProperty("stored").GetInt32();
            int offset = e.GetProperty("offset").GetInt32();
            list.Add(new Case(e.GetProperty("method").GetString()!, src[0].GetInt32(), src[1].GetInt32(), src[2].GetInt32(),
                dst[0].GetInt32(), dst[1].GetInt32(), e.GetProperty("sha256").GetString()!, count, stride,
                data.AsSpan(offset, stored * elem).ToArray()));
        }
        return list.ToArray();
    }

    // Resolved from the test's working directory at load time (TestContext is not needed for a lazy static).
    private static string FixtureRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Ssd.sln"))) dir = dir.Parent;
        if (dir is null) throw new InvalidOperationException("Ssd.sln not found above the test directory");
        return Path.Combine(dir.FullName, "tests", "Ssd.Tests", "Fixtures");
    }
}

/// <summary>
/// The synthetic test image of make_preprocess_fixtures.py, reproduced exactly: interleaved RGB; cells of 8x8
/// pixels, every third one integer-hash noise, the others a smooth gradient.
/// </summary>
public static class SyntheticImage
{
    public static byte[] Create(int w, int h, int seed)
    {
        var img = new byte[3 * w * h];
        uint gw = (uint)Math.Max(w - 1, 1), gh = (uint)Math.Max(h - 1, 1);
        for (uint y = 0; y < h; y++)
        for (uint x = 0; x < w; x++)
        for (uint c = 0; c < 3; c++)
        {
            uint v;
            if ((x / 8 + y / 8) % 3 == 0)
            {
                uint k = unchecked(x * 374761393u + y * 668265263u + c * 2246822519u + (uint)seed * 3266489917u);
                k = unchecked((k ^ (k >> 15)) * 2654435761u);
                k ^= k >> 13;
                v = k & 255;
            }
            else v = (x * 255 / gw * (c + 1) + y * 255 / gh) % 256;
            img[3 * (y * w + x) + c] = (byte)v;
        }
        return img;
    }
}
