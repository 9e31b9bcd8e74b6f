using System.Diagnostics;
using Ssd.Weights.Model;
using Ssd.Weights.Tensors;

namespace Ssd.Tests.Weights;

public class TorchConverterTests
{
    private static Dictionary<string, TensorData> Zeros(IEnumerable<(string Key, int[] Shape)> layout) =>
        layout.ToDictionary(k => k.Key, k => new TensorData(k.Key, k.Shape, TensorDType.Float32, new byte[k.Shape.Aggregate(1, (a, d) => a * d) * 4]));

    /// <summary>The key layout dumped from torchvision 0.14 by tools/fixtures/make_torch_key_fixtures.py.</summary>
    private static Dictionary<string, TensorData> TorchvisionSsd300() => Zeros(
        File.ReadAllLines(Path.Combine(WeightsPaths.Fixtures, "torch", "torchvision_ssd300_vgg16_keys.txt")).Where(l => l.Length > 0)
            .Select(l => l.Split(' ')).Select(p => (p[0], p[1].Split(',').Select(int.Parse).ToArray())));

    /// <summary>ssd.pytorch's build_ssd layout, written out from its cfg tables (base '300', extras, mbox).</summary>
    private static Dictionary<string, TensorData> SsdPytorch(bool ssd512, int classes, string prefix = "")
    {
        var keys = new List<(string, int[])>();
        void Conv(string name, int o, int i, int k) { keys.Add(($"{prefix}{name}.weight", [o, i, k, k])); keys.Add(($"{prefix}{name}.bias", [o])); }
        int[] vggIdx = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28];
        int[] vggOut = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512];
        for (int i = 0, inC = 3; i < vggIdx.Length; inC = vggOut[i], i++) Conv($"vgg.{vggIdx[i]}", vggOut[i], inC, 3);
        Conv("vgg.31", 1024, 512, 3);
        Conv("vgg.33", 1024, 1024, 1);
        keys.Add(($"{prefix}L2Norm.weight", [512]));
        (int o, int i, int k)[] extras = ssd512
            ? [(256, 1024, 1), (512, 256, 3), (128, 512, 1), (256, 128, 3), (128, 256, 1), (256, 128, 3), (128, 256, 1), (256, 128, 3), (128, 256, 1), (256, 128, 4)]
            : [(256, 1024, 1), (512, 256, 3), (128, 512, 1), (256, 128, 3), (128, 256, 1), (256, 128, 3), (128, 256, 1), (256, 128, 3)];
        for (int e = 0; e < extras.Length; e++) Conv($"extras.{e}", extras[e].o, extras[e].i, extras[e].k);
        int[] src = ssd512 ? [512, 1024, 512, 256, 256, 256, 256] : [512, 1024, 512, 256, 256, 256];
        int[] boxes = ssd512 ? [4, 6, 6, 6, 6, 4, 4] : [4, 6, 6, 6, 4, 4];
        for (int h = 0; h < src.Length; h++) { Conv($"loc.{h}", boxes[h] * 4, src[h], 3); Conv($"conf.{h}", boxes[h] * classes, src[h], 3); }
        return Zeros(keys);
    }

    [Test]
    public void TorchvisionSsd300LayoutConverts()
    {
        var state = TorchvisionSsd300();
        Assert.That(TorchConverter.Detect(state), Is.EqualTo(ModelFlavor.Torchvision));
        var r = TorchConverter.Convert(state);
        var d = r.Description;
        Assert.That(d.PostProcess.NumClasses, Is.EqualTo(91));
        Assert.That(d.PostProcess.ClassNames![1], Is.EqualTo("person"));
        Assert.That(d.Priors.Maps, Has.Length.EqualTo(6));
        Assert.That(d.Input.Resize, Is.EqualTo(ResizeMethod.TorchBilinear));
        Assert.That(r.Tensors.Keys, Is.EquivalentTo(state.Keys), "every tensor used");
        var fc6 = d.Layers.OfType<ConvolutionLayer>().Single(c => c.Name == "backbone.extra.0.7.1");
        Assert.That((fc6.DilationH, fc6.PadH), Is.EqualTo((6, 6)));
        var pools = d.Layers.OfType<PoolingLayer>().ToList();
        Assert.That(pools.Select(p => p.Rounding), Is.EqualTo(new[] { PoolRounding.Floor, PoolRounding.Floor, PoolRounding.Ceil, PoolRounding.Floor, PoolRounding.Floor }));
    }

    [TestCase(false, 21)]
    [TestCase(true, 21)]
    [TestCase(false, 81)]
    public void SsdPytorchLayoutConverts(bool ssd512, int classes)
    {
        var state = SsdPytorch(ssd512, classes);
        Assert.That(TorchConverter.Detect(state), Is.EqualTo(ModelFlavor.SsdPytorch));
        var r = TorchConverter.Convert(state);
        Assert.That(r.Description.Input.Width, Is.EqualTo(ssd512 ? 512 : 300));
        Assert.That(r.Description.Priors.Maps, Has.Length.EqualTo(ssd512 ? 7 : 6));
        Assert.That(r.Description.PostProcess.NumClasses, Is.EqualTo(classes));
        Assert.That(r.Description.Priors.Maps[0].MinSizes[0], Is.EqualTo(ssd512 ? 35.84f : classes == 21 ? 30f : 21f));
        var sources = r.Description.Priors.Maps.Select(m => m.Source).ToArray();
        Assert.That(sources[0], Is.EqualTo("L2Norm"));
        Assert.That(sources[1], Is.EqualTo("vgg.34"));
    }

    [Test]
    public void DataParallelPrefixIsStripped() =>
        Assert.That(TorchConverter.Convert(SsdPytorch(false, 21, "module.")).Description.Flavor, Is.EqualTo(ModelFlavor.SsdPytorch));

    [Test]
    public void MissingAndUnexpectedKeysAreListed()
    {
        var state = TorchvisionSsd300();
        state.Remove("backbone.features.10.bias");
        state["backbone.bogus.weight"] = new TensorData("backbone.bogus.weight", [1], TensorDType.Float32, new byte[4]);
        var e = Assert.Throws<InvalidDataException>(() => TorchConverter.Convert(state))!;
        Assert.That(e.Message, Does.Contain("missing keys: backbone.features.10.bias").And.Contain("unexpected keys: backbone.bogus.weight"));
    }

    [Test]
    public void WrongShapeNamesTheTensor()
    {
        var state = SsdPytorch(false, 21);
        state["L2Norm.weight"] = new TensorData("L2Norm.weight", [256], TensorDType.Float32, new byte[1024]);
        var e = Assert.Throws<InvalidDataException>(() => TorchConverter.Convert(state))!;
        Assert.That(e.Message, Does.Contain("L2Norm.weight").And.Contain("[256]").And.Contain("[512]"));
    }

    [Test]
    public void UnknownLayoutIsRejected() =>
        Assert.Throws<InvalidDataException>(() => TorchConverter.Detect(Zeros([("fc.weight", [2, 2])])));

    [Test]
    public void FullSizeSsd300ConversionTime()
    {
        var state = TorchvisionSsd300();
        TorchConverter.Convert(state); // warm-up (JIT)
        var sw = Stopwatch.StartNew();
        var r = TorchConverter.Convert(state);
        sw.Stop();
        // Measured and printed for the report, deliberately not asserted.
        TestContext.Out.WriteLine($"torchvision SSD300 conversion: {sw.Elapsed.TotalMilliseconds:F1} ms for {r.Tensors.Values.Sum(t => t.ElementCount):N0} weights");
    }
}
