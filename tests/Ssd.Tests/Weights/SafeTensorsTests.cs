using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Ssd.Weights.SafeTensors;
using Ssd.Weights.Tensors;
using Ssd.Weights.Torch;

namespace Ssd.Tests.Weights;

public class SafeTensorsTests
{
    private string dir = "";

    [SetUp]
    public void SetUp() => Directory.CreateDirectory(dir = Path.Combine(Path.GetTempPath(), "ssd-safetensors-" + Guid.NewGuid().ToString("N")));

    [TearDown]
    public void TearDown() => Directory.Delete(dir, recursive: true);

    [Test]
    public void ReadsAFileWrittenFromTheSpecByAnIndependentWriter()
    {
        var file = SafeTensorsFile.Read(TorchFixtures.PathOf("spec_written.safetensors"));
        TorchFixtures.AssertTensors(file.Tensors, TorchFixtures.ExpectedTensors("spec_written"));
        var meta = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(TorchFixtures.PathOf("spec_written.metadata.json")));
        Assert.That(file.Metadata, Is.EquivalentTo(meta!));
    }

    [Test]
    public void RoundTripsEveryDTypeAndTheMetadata()
    {
        var tensors = TorchCheckpoint.Load(TorchFixtures.PathOf("special.zip.pth")).Values.ToList();
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["model"] = "{\"layers\": [\"conv1\", \"<relu>\"], \"note\": \"h\u00e9\"}" };
        var path = Path.Combine(dir, "special.safetensors");
        SafeTensorsFile.Write(path, tensors, meta);

        var back = SafeTensorsFile.Read(path);
        Assert.That(back.Metadata, Is.EquivalentTo(meta));
        Assert.That(back.Tensors.Keys, Is.EqualTo(tensors.Select(t => t.Name)));
        foreach (var t in tensors)
        {
            Assert.That(back.Tensors[t.Name].DType, Is.EqualTo(t.DType));
            Assert.That(back.Tensors[t.Name].Shape, Is.EqualTo(t.Shape));
            Assert.That(back.Tensors[t.Name].Bytes, Is.EqualTo(t.Bytes));
        }
        var raw = File.ReadAllBytes(path);
        Assert.That((8 + (long)BinaryPrimitives.ReadUInt64LittleEndian(raw)) % 8, Is.EqualTo(0), "data starts 8-byte aligned");
        Assert.That(Directory.GetFiles(dir), Has.Length.EqualTo(1), "no temporary file left");
    }

    [Test]
    public void WrittenFileIsReadByTheIndependentSpecReader()
    {
        if (!File.Exists("/usr/bin/python3")) Assert.Ignore("needs /usr/bin/python3");
        var tensors = TorchFixtures.ExpectedTensors("special").Select(e => new TensorData(e.Name, e.Shape, TorchFixtures.DTypeOf(e.DType), e.Bytes)).ToList();
        var meta = new Dictionary<string, string> { ["model"] = "{\"a\": 1}" };
        var path = Path.Combine(dir, "special.safetensors");
        SafeTensorsFile.Write(path, tensors, meta);

        var reader = Path.Combine(TorchFixtures.Dir, "..", "..", "..", "..", "tools", "fixtures", "safetensors_spec_reader.py");
        var psi = new ProcessStartInfo("/usr/bin/python3", [reader, path]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd(), stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.That(p.ExitCode, Is.EqualTo(0), stderr);

        using var doc = JsonDocument.Parse(stdout);
        Assert.That(doc.RootElement.GetProperty("metadata").GetProperty("model").GetString(), Is.EqualTo(meta["model"]));
        var seen = doc.RootElement.GetProperty("tensors");
        foreach (var e in TorchFixtures.ExpectedTensors("special"))
        {
            var t = seen.GetProperty(e.Name);
            Assert.That(t.GetProperty("dtype").GetString(), Is.EqualTo(e.DType), e.Name);
            Assert.That(t.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()), Is.EqualTo(e.Shape), e.Name);
            Assert.That(t.GetProperty("hex").GetString(), Is.EqualTo(Convert.ToHexString(e.Bytes).ToLowerInvariant()), e.Name);
        }
    }

    [Test]
    public void FailedWriteLeavesTheOldFileAndNoTemporary()
    {
        var path = Path.Combine(dir, "keep.safetensors");
        File.WriteAllText(path, "old");
        var t = new TensorData("a", [1], TensorDType.Float32, new byte[4]);
        Assert.Throws<ArgumentException>(() => SafeTensorsFile.Write(path, [t, t]));
        Assert.That(File.ReadAllText(path), Is.EqualTo("old"));
        Assert.That(Directory.GetFiles(dir), Has.Length.EqualTo(1));
    }

    /// <summary>A file with the given header JSON and data length.</summary>
    private static MemoryStream Make(string json, int dataLength, long? declared = null)
    {
        var h = Encoding.UTF8.GetBytes(json);
        var bytes = new byte[8 + h.Length + dataLength];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)(declared ?? h.Length));
        h.CopyTo(bytes, 8);
        return new MemoryStream(bytes);
    }

    [TestCase("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 8, null, null)]
    [TestCase("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 12, null, "trailing")]
    [TestCase("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 4, null, "truncated")]
    [TestCase("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8, null, "needs 12")]
    [TestCase("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}""", 6, null, "contiguous")]
    [TestCase("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, null, "starts at 4")]
    [TestCase("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}""", 8, null, "bad data_offsets")]
    [TestCase("""{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}""", 8, null, "unsupported dtype")]
    [TestCase("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, null, "twice")]
    [TestCase("""{"__metadata__":{"k":1}}""", 0, null, "not a string")]
    [TestCase("""{"a":""", 0, null, "not valid JSON")]
    [TestCase("""[1]""", 0, null, "does not start")]
    [TestCase("""{}""", 0, 1L << 40, "declares")]
    public void ValidatesTheHeader(string json, int dataLength, long? declared, string? error)
    {
        if (error == null)
        {
            Assert.That(SafeTensorsFile.Read(Make(json, dataLength, declared)).Tensors["a"].Shape, Is.EqualTo(new[] { 2 }));
            return;
        }
        var e = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Read(Make(json, dataLength, declared)));
        Assert.That(e!.Message, Does.Contain(error));
    }
}
