using System.Runtime.InteropServices;
using Ssd.Weights.Caffe;

namespace Ssd.Tests.Weights;

/// <summary>Reads caffemodels written by tools/fixtures/make_caffe_fixtures.py (python protobuf, hand-built schema).</summary>
public class CaffemodelTests
{
    private static string Caffe => Path.Combine(WeightsPaths.Fixtures, "caffe");

    [Test]
    public void EveryFixtureBlobReadsBackBitForBit()
    {
        var model = CaffemodelReader.ReadFile(Path.Combine(Caffe, "tiny.caffemodel"));
        var lines = File.ReadAllLines(Path.Combine(Caffe, "blobs.txt")).Where(l => l.Length > 0).ToList();
        Assert.That(lines, Has.Count.EqualTo(5));
        foreach (var line in lines)
        {
            var parts = line.Split(' ');
            var blob = model[parts[0]].Blobs[int.Parse(parts[1])];
            Assert.That(blob.Tensor.Shape, Is.EqualTo(parts[2].Split(',').Select(int.Parse).ToArray()), line);
            var expected = MemoryMarshal.Cast<byte, int>(File.ReadAllBytes(Path.Combine(Caffe, "blobs", $"{parts[0]}_{parts[1]}.bin"))).ToArray();
            var actual = MemoryMarshal.Cast<float, int>(blob.Tensor.ToFloat32()).ToArray();
            Assert.That(actual, Is.EqualTo(expected), line);
        }
        Assert.That(model["conv1"].Blobs[0].Legacy, Is.False);
        Assert.That(model["conv2"].Blobs[0].Legacy, Is.True);
        Assert.That(model["conv2_norm"].Blobs[0].Tensor.DType, Is.EqualTo(Ssd.Weights.Tensors.TensorDType.Float64));
        Assert.That(model.ContainsKey("relu1"), Is.False, "layers without blobs are not listed");
    }

    [Test]
    public void V1LayersWithUnpackedFloatsRead()
    {
        var model = CaffemodelReader.ReadFile(Path.Combine(Caffe, "tiny_v1.caffemodel"));
        var blob = model["conv1"].Blobs[0];
        Assert.That(blob.Tensor.Shape, Is.EqualTo(new[] { 8, 3, 3, 3 }));
        Assert.That(blob.Tensor.Bytes, Is.EqualTo(File.ReadAllBytes(Path.Combine(Caffe, "blobs", "conv1_0.bin"))));
    }

    [Test]
    public void RealFaceDetectorBlobsMatchTheDeployFile()
    {
        var dir = WeightsPaths.FaceModelDir;
        var model = CaffemodelReader.ReadFile(Path.Combine(dir, "model.caffemodel"));
        var net = CaffeNetDefinition.Load(Path.Combine(dir, "deploy.prototxt"));
        foreach (var conv in net.Layers.Where(l => l.Type == "Convolution"))
        {
            var p = conv.Param("convolution_param");
            var w = model[conv.Name].Blobs[0].Tensor.Shape;
            int k = p.Ints("kernel_size")[0];
            Assert.That(new[] { w[0], w[2], w[3] }, Is.EqualTo(new[] { p.Int("num_output", 0), k, k }), conv.Name);
            Assert.That(model[conv.Name].Blobs, Has.Count.EqualTo(p.Bool("bias_term", true) ? 2 : 1), conv.Name);
        }
        foreach (var norm in net.Layers.Where(l => l.Type == "Normalize"))
            Assert.That(model[norm.Name].Blobs[0].Tensor.Shape, Has.Length.EqualTo(1), norm.Name);
    }

    [Test]
    public void GarbageIsInvalidData()
    {
        Assert.Throws<InvalidDataException>(() => CaffemodelReader.Read([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]));
        Assert.Throws<InvalidDataException>(() => CaffemodelReader.Read("this is a prototxt, not a caffemodel"u8.ToArray()));
    }

    [Test]
    public void ALayerNameWithControlCharactersIsRefusedPrintably()
    {
        // NetParameter { layer { name: "a\nb" blobs { shape { dim: 1 } data: 1.0 } } }, found by the fuzz harness
        byte[] blob = [0x3A, 0x03, 0x0A, 0x01, 0x01, 0x2A, 0x04, 0x00, 0x00, 0x80, 0x3F];
        byte[] layer = [0x0A, 0x03, (byte)'a', (byte)'\n', (byte)'b', 0x3A, (byte)blob.Length, .. blob];
        byte[] net = [0xA2, 0x06, (byte)layer.Length, .. layer];
        var e = Assert.Throws<InvalidDataException>(() => CaffemodelReader.Read(net))!;
        Assert.That(e.Message, Does.Contain("'a\\nb'").And.Not.Contain("\n"));
        // the same layer named plainly reads
        net[3 + 3] = (byte)'_';
        Assert.That(CaffemodelReader.Read(net)["a_b"].Blobs[0].Tensor.ToFloat32(), Is.EqualTo(new[] { 1f }));
    }
}
