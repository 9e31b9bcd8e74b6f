using Ssd.Engine.Detection;
using Ssd.Engine.Graph;
using Ssd.Engine.Network;
using Ssd.Weights.Model;
using Ssd.Weights.Model.Architecture;
using Ssd.Weights.Tensors;
using static Ssd.Tests.Acceptance.PeerFixtures;

namespace Ssd.Tests.Weights;

/// <summary>
/// The SSD vocabulary (<see cref="SsdBuilder"/>, <see cref="VggSsd"/>): SSD300/SSD512-VGG16 built from scratch in each
/// flavour's layout against the real projects' layouts (torchvision 0.14's state-dict dump, ssd.pytorch's published
/// parameter count, weiliu89's deploy prototxts as CaffeConverter reads them), round trips through the converter,
/// the paper's default-box counts, and an untrained model that detects.
/// </summary>
public class VggSsdTests
{
    private static long Parameters(ConversionResult r) => r.Tensors.Values.Sum(t => t.ElementCount);

    [Test]
    public void TorchvisionSsd300FromScratchHasTorchvisionsOwnStateDictLayout()
    {
        // tools/fixtures/make_torch_key_fixtures.py dumped ssd300_vgg16(num_classes=91)'s state_dict keys and shapes.
        var expected = File.ReadAllLines(Path.Combine(WeightsPaths.Fixtures, "torch", "torchvision_ssd300_vgg16_keys.txt")).Where(l => l.Length > 0)
            .Select(l => l.Split(' ')).ToDictionary(p => p[0], p => p[1]);
        var r = VggSsd.Create(ModelFlavor.Torchvision, 300, 91);
        Assert.That(r.Tensors.ToDictionary(t => t.Key, t => string.Join(",", t.Value.Shape)), Is.EquivalentTo(expected));
        Assert.That(Parameters(r), Is.EqualTo(35_641_826), "torchvision 0.14's ssd300_vgg16 (91 classes)");
    }

    [TestCase(ModelFlavor.SsdPytorch, 300, 21, 26_285_486)] // ssd.pytorch's SSD300 on VOC: its published 26.29 M parameters
    [TestCase(ModelFlavor.Torchvision, 300, 91, 35_641_826)]
    public void ParameterCountsMatchTheReferenceProjects(ModelFlavor flavor, int size, int classes, long count) =>
        Assert.That(Parameters(VggSsd.Create(flavor, size, classes)), Is.EqualTo(count));

    [TestCase(ModelFlavor.SsdPytorch, 300, 21)]
    [TestCase(ModelFlavor.SsdPytorch, 512, 81)]
    [TestCase(ModelFlavor.Torchvision, 300, 91)]
    public void AModelMadeFromScratchConvertsBackToItself(ModelFlavor flavor, int size, int classes)
    {
        var scratch = VggSsd.Create(flavor, size, classes);
        var converted = TorchConverter.Convert(scratch.Tensors);
        Assert.That(converted.Description.ToJson(), Is.EqualTo(scratch.Description.ToJson()));
        Assert.That(converted.Tensors.Keys, Is.EquivalentTo(scratch.Tensors.Keys));
    }

    [TestCase(ModelFlavor.Caffe, 300, 8732)]
    [TestCase(ModelFlavor.Caffe, 512, 24564)]
    [TestCase(ModelFlavor.SsdPytorch, 300, 8732)]
    [TestCase(ModelFlavor.SsdPytorch, 512, 24564)]
    [TestCase(ModelFlavor.Torchvision, 300, 8732)]
    [TestCase(ModelFlavor.Torchvision, 512, 24564)]
    public void ThePriorGridGivesThePapersDefaultBoxCounts(ModelFlavor flavor, int size, int priors)
    {
        var r = VggSsd.Create(flavor, size, 21, widthDivisor: 16);
        var plan = PlanBuilder.Build(r.Description, r.Tensors, size, size);
        var request = PriorRequest.Create(r.Description.Priors, plan);
        Assert.That(request.ComputeReference().Length / (flavor == ModelFlavor.Caffe ? 8 : 4), Is.EqualTo(priors));
        Assert.That(plan.Loc.Count, Is.EqualTo(4L * priors));
        Assert.That(plan.Conf.Count, Is.EqualTo(21L * priors));
    }

    [Test]
    public void TheWidthDivisorNarrowsTheBackboneAndExtrasButNotTheHeads()
    {
        var r = VggSsd.Create(ModelFlavor.SsdPytorch, 300, 21, widthDivisor: 8);
        Assert.That(r.Tensors["vgg.0.weight"].Shape, Is.EqualTo(new[] { 8, 3, 3, 3 }));
        Assert.That(r.Tensors["vgg.33.weight"].Shape, Is.EqualTo(new[] { 128, 128, 1, 1 }));
        Assert.That(r.Tensors["L2Norm.weight"].Shape, Is.EqualTo(new[] { 64 }));
        Assert.That(r.Tensors["loc.0.weight"].Shape, Is.EqualTo(new[] { 16, 64, 3, 3 }));
        Assert.That(r.Tensors["conf.1.weight"].Shape, Is.EqualTo(new[] { 6 * 21, 128, 3, 3 }));
    }

    [Test]
    public void TheInitialiserSeesEveryTensorWithItsPart()
    {
        var parts = new Dictionary<string, SsdPart>();
        var r = VggSsd.Create(ModelFlavor.Torchvision, 300, 91, initialise: (name, shape, part, values) => { parts[name] = part; values.AsSpan().Fill(0.5f); });
        Assert.That(parts.Keys, Is.EquivalentTo(r.Tensors.Keys));
        Assert.That(parts["backbone.features.0.weight"], Is.EqualTo(SsdPart.Backbone));
        Assert.That(parts["backbone.extra.0.7.1.weight"], Is.EqualTo(SsdPart.Backbone), "fc6");
        Assert.That(parts["backbone.extra.1.0.weight"], Is.EqualTo(SsdPart.Extras));
        Assert.That(parts["backbone.scale_weight"], Is.EqualTo(SsdPart.L2NormScale));
        Assert.That(parts["head.classification_head.module_list.5.bias"], Is.EqualTo(SsdPart.Head));
        Assert.That(r.Tensors["backbone.extra.2.2.bias"].ToFloat32(), Is.All.EqualTo(0.5f));
    }

    /// <summary>
    /// weiliu89's published deploy architectures (make_caffe_acceptance.py writes them layer by layer), read by
    /// CaffeConverter: the Caffe flavour built from scratch has the same convolutions (names, channels, kernels,
    /// strides, padding, dilation, tensor names), pooling, L2Norm, prior maps and DetectionOutput settings.
    /// </summary>
    [TestCase(300)]
    [TestCase(512)]
    public void CaffeFromScratchIsWeiliu89sDeployArchitecture(int size)
    {
        string folder = $"caffe_ssd{size}", script = "make_caffe_acceptance.py";
        var prototxt = Generated(folder, "deploy.prototxt", script);
        var caffemodel = Generated(folder, "model.caffemodel", script);
        var published = CaffeConverter.Convert(prototxt, caffemodel, new ConversionOptions { Mean = [104f, 117f, 123f] }).Description;
        var built = VggSsd.Create(ModelFlavor.Caffe, size, published.PostProcess.NumClasses).Description;

        static object Conv(ConvolutionLayer c) => (c.Name, c.InChannels, c.OutChannels, c.KernelH, c.StrideH, c.PadH, c.DilationH, c.Weight, c.Bias);
        static object Pool(PoolingLayer p) => (p.KernelH, p.StrideH, p.PadH, p.Rounding, p.Method);
        Assert.That(built.Layers.OfType<ConvolutionLayer>().Select(Conv), Is.EqualTo(published.Layers.OfType<ConvolutionLayer>().Select(Conv)));
        Assert.That(built.Layers.OfType<PoolingLayer>().Select(Pool), Is.EqualTo(published.Layers.OfType<PoolingLayer>().Select(Pool)));
        var (n1, n2) = (built.Layers.OfType<NormalizeLayer>().Single(), published.Layers.OfType<NormalizeLayer>().Single());
        Assert.That((n1.Name, n1.Eps, n1.EpsMode, n1.Scale, n1.Channels), Is.EqualTo((n2.Name, n2.Eps, n2.EpsMode, n2.Scale, n2.Channels)));
        static object Map(PriorSpec m) => (string.Join(",", m.MinSizes), string.Join(",", m.MaxSizes), string.Join(",", m.AspectRatios), m.Flip, m.Clip,
            string.Join(",", m.Variances), m.StepWidth, m.StepHeight, m.Offset);
        Assert.That(built.Priors.Maps.Select(Map), Is.EqualTo(published.Priors.Maps.Select(Map)));
        var (p1, p2) = (built.PostProcess, published.PostProcess);
        Assert.That((p1.Style, p1.NumClasses, p1.BackgroundId, p1.ConfidenceThreshold, p1.NmsThreshold, p1.TopK, p1.KeepTopK),
            Is.EqualTo((p2.Style, p2.NumClasses, p2.BackgroundId, p2.ConfidenceThreshold, p2.NmsThreshold, p2.TopK, p2.KeepTopK)));
        Assert.That((built.Input.Width, built.Input.ChannelOrder, string.Join(",", built.Input.Mean)), Is.EqualTo((published.Input.Width, published.Input.ChannelOrder, string.Join(",", published.Input.Mean))));
    }

    [Test]
    public void AnUntrainedNarrowSsd300RunsEndToEnd()
    {
        var rng = new Random(3);
        var r = VggSsd.Create(ModelFlavor.Torchvision, 300, 5, widthDivisor: 16,
            initialise: (_, shape, _, values) => { float s = shape.Length == 4 ? 1f / MathF.Sqrt(shape[1] * shape[2] * shape[3]) : 0.1f; for (int i = 0; i < values.Length; i++) values[i] = s * (2 * rng.NextSingle() - 1); });
        using var detector = SsdDetector.Create(r.Description, r.Tensors, new SsdDetectorOptions { Backend = DetectorBackend.Cpu, ConfidenceThreshold = 0.2f });
        var pixels = new byte[320 * 240 * 3];
        rng.NextBytes(pixels);
        var found = detector.Detect(new Ssd.Engine.Imaging.RgbImage(320, 240, pixels));
        Assert.That(found.All(d => d.ClassId is > 0 and < 5 && d.Score >= 0.2f));
    }
}
