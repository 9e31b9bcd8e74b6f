using System.Runtime.InteropServices;
using System.Text.Json;
using Ssd.Tests.Acceptance;
using Ssd.Tests.Fixtures;

namespace Ssd.Tests.Training;

/// <summary>
/// A fixture written by tools/fixtures/fixture_blob.py: STEM.json (scalars under "meta", and per array its dtype,
/// shape and byte offset) and STEM.bin (the arrays' bytes).
/// </summary>
public sealed class FixtureBlob
{
    private readonly byte[] data;
    private readonly Dictionary<string, (string DType, int[] Shape, int Offset)> arrays = new();

    public JsonElement Meta { get; }

    private FixtureBlob(string jsonPath, string binPath)
    {
        data = File.ReadAllBytes(binPath);
        using var doc = JsonDocument.Parse(File.ReadAllText(jsonPath));
        Meta = doc.RootElement.GetProperty("meta").Clone();
        foreach (var a in doc.RootElement.GetProperty("arrays").EnumerateObject())
            arrays[a.Name] = (a.Value.GetProperty("dtype").GetString()!, a.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray(),
                a.Value.GetProperty("offset").GetInt32());
    }

    /// <summary>A generated fixture (Fixtures/generated/training/STEM.*), written by CI's fixture scripts.</summary>
    public static FixtureBlob Generated(string stem, string script) =>
        new(PeerFixtures.Generated("training", stem + ".json", script), PeerFixtures.Generated("training", stem + ".bin", script));

    /// <summary>A fixture at the given paths.</summary>
    public static FixtureBlob At(string jsonPath, string binPath) => new(jsonPath, binPath);

    /// <summary>A committed fixture (Fixtures/training/STEM.*).</summary>
    public static FixtureBlob Committed(string stem) =>
        new(FixtureFiles.Path(Path.Combine("training", stem + ".json")), FixtureFiles.Path(Path.Combine("training", stem + ".bin")));

    public bool Has(string name) => arrays.ContainsKey(name);

    public int[] Shape(string name) => Entry(name).Shape;

    public float[] Floats(string name) => MemoryMarshal.Cast<byte, float>(Bytes(name, "float32", 4)).ToArray();

    public double[] Doubles(string name) => MemoryMarshal.Cast<byte, double>(Bytes(name, "float64", 8)).ToArray();

    public int[] Ints(string name) => MemoryMarshal.Cast<byte, int>(Bytes(name, "int32", 4)).ToArray();

    public byte[] UInt8(string name) => Bytes(name, "uint8", 1).ToArray();

    public ulong[] UInt64(string name) => MemoryMarshal.Cast<byte, ulong>(Bytes(name, "uint64", 8)).ToArray();

    private ReadOnlySpan<byte> Bytes(string name, string dtype, int size)
    {
        var e = Entry(name);
        Assert.That(e.DType, Is.EqualTo(dtype), $"fixture array {name}");
        long count = e.Shape.Aggregate(1L, (a, d) => a * d);
        return data.AsSpan(e.Offset, checked((int)(count * size)));
    }

    private (string DType, int[] Shape, int Offset) Entry(string name) =>
        arrays.TryGetValue(name, out var e) ? e : throw new KeyNotFoundException($"fixture array {name} is missing");
}
