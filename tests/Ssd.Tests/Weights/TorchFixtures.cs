using System.Text.Json;
using Ssd.Weights.Tensors;

namespace Ssd.Tests.Weights;

/// <summary>
/// The fixtures written by tools/fixtures/make_torch_fixtures.py (torch 1.13 + numpy), read from the source tree.
/// Expected tensors come from numpy's bytes, independent of torch's file formats.
/// </summary>
public static class TorchFixtures
{
    public static readonly string Dir = Path.Combine(RepoRoot(), "tests", "Ssd.Tests", "Fixtures", "torch");

    public static string PathOf(string file) => Path.Combine(Dir, file);

    public sealed record Expected(string Name, string DType, int[] Shape, byte[] Bytes);

    /// <summary>&lt;stem&gt;.expected.json + .bin: every tensor's name, safetensors-style dtype, shape and bytes, in order.</summary>
    public static List<Expected> ExpectedTensors(string stem)
    {
        var blob = File.ReadAllBytes(PathOf(stem + ".expected.bin"));
        using var doc = JsonDocument.Parse(File.ReadAllText(PathOf(stem + ".expected.json")));
        return doc.RootElement.GetProperty("tensors").EnumerateArray().Select(t => new Expected(
            t.GetProperty("name").GetString()!,
            t.GetProperty("dtype").GetString()!,
            t.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray(),
            blob.AsSpan(t.GetProperty("offset").GetInt32(), t.GetProperty("length").GetInt32()).ToArray())).ToList();
    }

    public static TensorDType DTypeOf(string name) => name switch
    {
        "F32" => TensorDType.Float32, "F16" => TensorDType.Float16, "BF16" => TensorDType.BFloat16, "F64" => TensorDType.Float64,
        "I64" => TensorDType.Int64, "I32" => TensorDType.Int32, "U8" => TensorDType.UInt8, "I8" => TensorDType.Int8,
        "BOOL" => TensorDType.Bool, _ => throw new ArgumentException(name),
    };

    /// <summary>Asserts the read tensors are exactly the expected ones: same names in the same order, bit-for-bit.</summary>
    public static void AssertTensors(IReadOnlyDictionary<string, TensorData> actual, List<Expected> expected)
    {
        Assert.That(actual.Keys, Is.EqualTo(expected.Select(e => e.Name)), "tensor names in order");
        foreach (var e in expected)
        {
            var t = actual[e.Name];
            Assert.That(t.Name, Is.EqualTo(e.Name));
            Assert.That(t.DType, Is.EqualTo(DTypeOf(e.DType)), $"{e.Name} dtype");
            Assert.That(t.Shape, Is.EqualTo(e.Shape), $"{e.Name} shape");
            Assert.That(t.Bytes, Is.EqualTo(e.Bytes), $"{e.Name} bytes");
        }
    }

    /// <summary>The malicious fixtures: attack name -> the module.name the reader must refuse.</summary>
    public static IEnumerable<TestCaseData> Attacks()
    {
        var manifest = Path.Combine(Dir, "malicious", "manifest.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(manifest));
        foreach (var p in doc.RootElement.EnumerateObject())
            yield return new TestCaseData(p.Name, p.Value.GetProperty("global").GetString()).SetArgDisplayNames(p.Name);
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Ssd.sln"))) return d.FullName;
        throw new DirectoryNotFoundException("Ssd.sln not found above " + AppContext.BaseDirectory);
    }
}
