using System.Collections.Concurrent;
using System.Text.Json;
using Ssd.Tests.Acceptance;

namespace Ssd.Tests.Kernels.Backward;

/// <summary>
/// One case of the torch autograd fixtures written by tools/fixtures/make_backward_fixtures.py under
/// Fixtures/generated/backward/: its parameters (the manifest entry) and its tensors, read on demand.
/// </summary>
public sealed class BackwardCase(string folder, JsonElement entry)
{
    public string Name => entry.GetProperty("name").GetString()!;
    public JsonElement Json => entry;

    public int Int(string key) => entry.GetProperty(key).GetInt32();
    public bool Bool(string key) => entry.GetProperty(key).GetBoolean();
    public double Double(string key) => entry.GetProperty(key).GetDouble();

    public int[] Shape(string tensor) =>
        entry.GetProperty("tensors").GetProperty(tensor).GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray();

    public bool Has(string tensor) => entry.GetProperty("tensors").TryGetProperty(tensor, out _);

    public float[] F(string tensor) => Read<float>(tensor, "f32");

    public int[] I(string tensor) => Read<int>(tensor, "i32");

    private T[] Read<T>(string tensor, string dtype) where T : unmanaged
    {
        var meta = entry.GetProperty("tensors").GetProperty(tensor);
        Assert.That(meta.GetProperty("dtype").GetString(), Is.EqualTo(dtype), $"{Name}/{tensor}: dtype");
        long count = Shape(tensor).Aggregate(1L, (p, d) => p * d);
        var bytes = File.ReadAllBytes(Path.Combine(folder, Name, tensor + ".bin"));
        Assert.That(bytes.LongLength, Is.EqualTo(count * System.Runtime.CompilerServices.Unsafe.SizeOf<T>()), $"{Name}/{tensor}: file size");
        var data = new T[count];
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(bytes).CopyTo(data);
        return data;
    }

    public override string ToString() => Name;
}

/// <summary>The backward fixtures' manifest (missing: the test is ignored, or failed when SSD_REQUIRE_PEERS=1).</summary>
public static class BackwardFixtures
{
    private const string Script = "make_backward_fixtures.py";
    private static readonly ConcurrentDictionary<string, Lazy<object>> cache = new();

    public static BackwardCase Case(string name)
    {
        var manifest = PeerFixtures.Generated("backward", "manifest.json", Script);
        var doc = JsonDocument.Parse(File.ReadAllText(manifest));
        var folder = Path.GetDirectoryName(manifest)!;
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
            if (c.GetProperty("name").GetString() == name) return new BackwardCase(folder, c.Clone());
        Assert.Fail($"backward/manifest.json has no case '{name}': rerun /usr/bin/python3 tools/fixtures/{Script}");
        return null!;
    }

    /// <summary>
    /// A value computed once per test run (the references' gradients at SSD's layer sizes take seconds; the SIMD and
    /// ILGPU tests compare against the same arrays).
    /// </summary>
    public static T Cached<T>(string key, Func<T> compute) =>
        (T)cache.GetOrAdd(key, _ => new Lazy<object>(() => compute()!)).Value;
}
