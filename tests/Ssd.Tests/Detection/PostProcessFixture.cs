using System.Text.Json;
using Ssd.Engine.PostProcessing;
using Ssd.Kernels.Detect;
using Ssd.Weights.Model;

namespace Ssd.Tests.Detection;

/// <summary>
/// Reads Fixtures/postprocess (tools/fixtures/make_postprocess_fixtures.py): shared inputs and, per case, the
/// detections the real peer implementation produced.
/// </summary>
public sealed class PostProcessFixture
{
    public int Images, Priors, Classes;
    public ImageSize[] Sizes = [];
    public float[] Loc = [], Logits = [], Probs = [], CaffePriors = [], CenterPriors = [], Anchors = [];
    public Dictionary<string, Case> Cases = new();

    public sealed record Case(string Name, string Flavor, float Confidence, float Nms, int TopK, int KeepTopK, float[][] Expected);

    private static PostProcessFixture? cached;

    public static PostProcessFixture Load()
    {
        if (cached is not null) return cached;
        var f = new PostProcessFixture();
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Ssd.Tests.PostProcessing.Fixtures.Root, "postprocess", "cases.json")));
        var root = doc.RootElement;
        f.Images = root.GetProperty("images").GetInt32();
        f.Priors = root.GetProperty("priors").GetInt32();
        f.Classes = root.GetProperty("classes").GetInt32();
        f.Sizes = root.GetProperty("sizes").EnumerateArray().Select(s => new ImageSize(s[0].GetInt32(), s[1].GetInt32())).ToArray();
        foreach (var c in root.GetProperty("cases").EnumerateArray())
        {
            var expected = c.GetProperty("expected").EnumerateArray()
                .Select(r => r.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray()).ToArray();
            var kase = new Case(c.GetProperty("name").GetString()!, c.GetProperty("flavor").GetString()!,
                (float)c.GetProperty("confidence").GetDouble(), (float)c.GetProperty("nms").GetDouble(),
                c.GetProperty("topK").GetInt32(), c.GetProperty("keepTopK").GetInt32(), expected);
            f.Cases[kase.Name] = kase;
        }
        var all = Ssd.Tests.PostProcessing.Fixtures.ReadFloat32(Path.Combine("postprocess", "inputs.f32"));
        int n = f.Images, p = f.Priors, cl = f.Classes, at = 0;
        float[] Take(int count) { var a = all.AsSpan(at, count).ToArray(); at += count; return a; }
        f.Loc = Take(n * p * 4);
        f.Logits = Take(n * p * cl);
        f.Probs = Take(n * p * cl);
        f.CaffePriors = Take(2 * p * 4);
        f.CenterPriors = Take(p * 4);
        f.Anchors = Take(p * 4);
        if (at != all.Length) throw new InvalidDataException($"postprocess fixture: {all.Length} floats, expected {at}");
        return cached = f;
    }
}

/// <summary>The host post-processor with a flavour's rules, as the tests build it (torchvision's frame: 300 x 300).</summary>
internal static class HostPostProcessor
{
    public static PostProcessor Of(ModelFlavor flavor, float[] priors, PostProcessParams p) => new(PostProcessRules.For(flavor, p, null, 300, 300), priors);
}
