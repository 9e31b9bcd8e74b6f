using Ssd.Weights.Caffe;
using Ssd.Weights.Model;
using Ssd.Weights.Tensors;

namespace Ssd.Tests.Weights;

public class CaffeConverterTests
{
    // The deploy file of the fixture net written by tools/fixtures/make_caffe_fixtures.py, made into a tiny SSD.
    internal const string TinyDeploy = """
        name: "tiny"
        input: "data"
        input_shape { dim: 1 dim: 3 dim: 16 dim: 16 }
        layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 8 kernel_size: 3 pad: 1 } }
        layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
        layer { name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2" convolution_param { num_output: 4 kernel_size: 1 } }
        layer { name: "conv2_norm" type: "Normalize" bottom: "conv2" top: "conv2_norm" norm_param { across_spatial: false channel_shared: false } }
        layer { name: "loc_perm" type: "Permute" bottom: "conv2_norm" top: "loc_perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
        layer { name: "loc" type: "Flatten" bottom: "loc_perm" top: "loc" }
        layer { name: "prior" type: "PriorBox" bottom: "conv2_norm" bottom: "data" top: "prior"
                prior_box_param { min_size: 4 variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 step: 1 } }
        layer { name: "det" type: "DetectionOutput" bottom: "loc" bottom: "loc" bottom: "prior" include { phase: TEST }
                detection_output_param { num_classes: 4 nms_param { nms_threshold: 0.45 top_k: 10 } code_type: CENTER_SIZE keep_top_k: 5 confidence_threshold: 0.1 } }
        """;

    private static IReadOnlyDictionary<string, CaffeLayerBlobs> TinyBlobs() =>
        CaffemodelReader.ReadFile(Path.Combine(WeightsPaths.Fixtures, "caffe", "tiny.caffemodel"));

    [Test]
    public void TinyFixtureConverts()
    {
        var r = CaffeConverter.Convert(CaffeNetDefinition.Parse(TinyDeploy), TinyBlobs());
        var d = r.Description;
        Assert.That(d.Layers.Select(l => l.Type), Is.EqualTo(new[] { "Convolution", "ReLU", "Convolution", "Normalize", "Permute", "Flatten" }));
        var conv2 = (ConvolutionLayer)d.Layers[2];
        Assert.That((conv2.InChannels, conv2.OutChannels, conv2.KernelH), Is.EqualTo((8, 4, 1)));
        // The legacy (1,1,1,4) bias is accepted as [4] (Caffe's legacy shape rule) and keeps its values.
        Assert.That(r.Tensors["conv2.bias"].Shape, Is.EqualTo(new[] { 4 }));
        Assert.That(r.Tensors["conv2.bias"].Bytes, Is.EqualTo(File.ReadAllBytes(Path.Combine(WeightsPaths.Fixtures, "caffe", "blobs", "conv2_1.bin"))));
        Assert.That(r.Tensors["conv2_norm.scale"].DType, Is.EqualTo(TensorDType.Float32), "double blobs become float32");
        Assert.That(d.Priors.Maps.Single().Source, Is.EqualTo("conv2_norm"));
        Assert.That(d.PostProcess.NumClasses, Is.EqualTo(4));
        Assert.That(d.PostProcess.KeepTopK, Is.EqualTo(5));
        Assert.That(r.Warnings, Has.Some.Contains("mean"), "no mean in the deploy file");
    }

    [Test]
    public void ShapeMismatchNamesLayerAndBothShapes()
    {
        var deploy = TinyDeploy.Replace("num_output: 8 kernel_size: 3", "num_output: 8 kernel_size: 5");
        var e = Assert.Throws<InvalidDataException>(() => CaffeConverter.Convert(CaffeNetDefinition.Parse(deploy), TinyBlobs()))!;
        Assert.That(e.Message, Does.Contain("'conv1'").And.Contain("[8,3,3,3]").And.Contain("[8,3,5,5]"));
    }

    [Test]
    public void MissingBiasBlobIsAnError()
    {
        var deploy = TinyDeploy.Replace("num_output: 8 kernel_size: 3 pad: 1", "num_output: 8 kernel_size: 3 pad: 1 bias_term: false");
        var e = Assert.Throws<InvalidDataException>(() => CaffeConverter.Convert(CaffeNetDefinition.Parse(deploy), TinyBlobs()))!;
        Assert.That(e.Message, Does.Contain("'conv1'").And.Contain("2 blobs"));
    }

    [Test]
    public void NaNWeightsGiveAWarning()
    {
        var blobs = TinyBlobs().ToDictionary(kv => kv.Key, kv => kv.Value);
        var w = blobs["conv1"].Blobs[0].Tensor;
        var values = w.ToFloat32();
        values[5] = float.NaN;
        values[6] = float.PositiveInfinity;
        var bad = new TensorData(w.Name, w.Shape, TensorDType.Float32, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        blobs["conv1"] = blobs["conv1"] with { Blobs = [new CaffeBlob(bad, false), blobs["conv1"].Blobs[1]] };
        var r = CaffeConverter.Convert(CaffeNetDefinition.Parse(TinyDeploy), blobs);
        Assert.That(r.Warnings, Has.Some.Contains("conv1.weight").And.Contains("2 NaN/Inf"));
    }

    [Test]
    public void RealFaceDetectorConverts()
    {
        var dir = WeightsPaths.FaceModelDir;
        var r = CaffeConverter.Convert(Path.Combine(dir, "deploy.prototxt"), Path.Combine(dir, "model.caffemodel"));
        var d = r.Description;
        Assert.That(d.Flavor, Is.EqualTo(ModelFlavor.Caffe));
        Assert.That((d.Input.Width, d.Input.Height, d.Input.ChannelOrder), Is.EqualTo((320, 240, ChannelOrder.Bgr)));
        // 76 layers minus 4 PriorBox, the prior Concat and DetectionOutput.
        Assert.That(d.Layers, Has.Length.EqualTo(70));
        Assert.That(d.Layers.OfType<ConvolutionLayer>().Count(), Is.EqualTo(24));
        foreach (var c in d.Layers.OfType<ConvolutionLayer>())
        {
            Assert.That(r.Tensors[c.Weight].Shape, Is.EqualTo(new[] { c.OutChannels, c.InChannels / c.Groups, c.KernelH, c.KernelW }), c.Name);
            Assert.That(c.Bias, Is.Null, c.Name);
        }
        Assert.That(d.Layers.OfType<NormalizeLayer>().Select(n => r.Tensors[n.Scale].Shape[0]), Is.EqualTo(new[] { 64, 128, 128, 128 }));
        Assert.That(d.Priors.Maps.Select(p => p.StepWidth), Is.EqualTo(new[] { 8f, 16f, 32f, 64f }));
        Assert.That(d.Priors.Maps[0].MinSizes, Is.EqualTo(new[] { 10f, 16f, 24f }));
        Assert.That((d.PostProcess.NumClasses, d.PostProcess.TopK, d.PostProcess.KeepTopK), Is.EqualTo((2, 100, 50)));
        Assert.That(d.PostProcess.NmsThreshold, Is.EqualTo(0.15f));
        Assert.That((d.Outputs.Loc, d.Outputs.Conf), Is.EqualTo(("mbox_loc", "mbox_conf_flatten")));
        // The face model was trained without a mean (../shared/README.md); the deploy file cannot say so, hence the note.
        Assert.That(d.Input.Mean, Is.EqualTo(new[] { 0f, 0f, 0f }));
        Assert.That(r.Warnings, Has.Count.EqualTo(1).And.All.Contains("training mean"));
    }

    /// <summary>Truncated/flipped caffemodels of the real net fail with a data or format error only.</summary>
    [Test]
    public void FuzzedRealModelConvertsOrFailsCleanly()
    {
        var dir = WeightsPaths.FaceModelDir;
        var net = CaffeNetDefinition.Load(Path.Combine(dir, "deploy.prototxt"));
        var bytes = File.ReadAllBytes(Path.Combine(dir, "model.caffemodel"));
        var rng = new Random(3);
        for (int i = 0; i < 20; i++)
        {
            var b = bytes[..(i % 2 == 0 ? rng.Next(bytes.Length) : bytes.Length)];
            for (int f = 0; f < 8; f++) b[rng.Next(b.Length)] = (byte)rng.Next(256);
            try { CaffeConverter.Convert(net, CaffemodelReader.Read(b)); }
            catch (InvalidDataException) { }
        }
    }
}
