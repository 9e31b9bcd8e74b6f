using System.Diagnostics;
using System.Text.Json;
using ILGPU;
using ILGPU.Runtime;
using Ssd.Engine.Backends.Cpu;
using Ssd.Engine.Backends.Ilgpu;
using Ssd.Engine.Detection;
using Ssd.Engine.Graph;
using Ssd.Engine.Imaging;
using Ssd.Kernels.Preprocess;
using Ssd.Tests.Weights;
using Ssd.Weights.Model;
using static Ssd.Tests.Acceptance.PeerFixtures;
using static Ssd.Tests.Engine.NetworkFixtures;
using FoundObject = Ssd.Engine.Detection.Detection;

namespace Ssd.Tests.Acceptance;

/// <summary>
/// Acceptance: the two Caffe SSDs users run most after VGG, with seeded random weights
/// (tools/fixtures/make_caffe_backbones.py), converted with CaffeConverter and the command line's input options,
/// run by SsdDetector on the real photo on the managed CPU backend and on every test device (PoCL; CUDA when the run
/// asks for it: TestDevices), give what OpenCV DNN gives on the
/// same prototxt and caffemodel: the blobFromImage input bit for bit, PriorBox's priors, and DetectionOutput's
/// detections (the same set, boxes within 0.01 px, scores within 1e-5; and, with no tolerance, the same count and
/// classes).
/// <list type="bullet">
/// <item>resnet_ssd: the layout of OpenCV's res10_300x300_ssd face detector (BatchNorm and Scale on the input
/// and after each Eltwise shortcut sum, kept as ops).</item>
/// <item>mobilenet_ssd: the shared MobileNet-SSD deploy file with Convolution + BatchNorm + Scale (folded into
/// the depthwise and pointwise convolutions), mobilenet_ssd_merged: the BatchNorm-merged deploy file; both with
/// `--mean 127.5,127.5,127.5 --scale 0.007843`.</item>
/// </list>
/// Each network runs once per backend; the tests share the result.
/// </summary>
public class CaffeBackboneAcceptanceTests
{
    private const string Script = "make_caffe_backbones.py";
    private const float BoxTolerance = 0.01f, ScoreTolerance = 1e-5f;

    public static readonly string[] Cases = ["resnet_ssd", "mobilenet_ssd", "mobilenet_ssd_merged"];

    public static IEnumerable<TestCaseData> CasesOnBackends() =>
        from c in Cases from backend in BackendNames select new TestCaseData(c, backend);

    private static string File(string folder, string name) => Generated(folder, name, Script);

    private static string Prototxt(string folder) => folder switch
    {
        "resnet_ssd" => File(folder, "deploy.prototxt"),
        "mobilenet_ssd" => Shared("deploy.prototxt"),
        _ => Shared("voc-MobileNetSSD_deploy.prototxt"),
    };

    private static string Shared(string file)
    {
        var path = Path.Combine(WeightsPaths.Shared, "models", "mobilenet-ssd-structure", file);
        if (!System.IO.File.Exists(path)) Assert.Ignore($"shared deploy file not found at {path}");
        return path;
    }

    /// <summary>What `ssd convert` is given on the command line for each model.</summary>
    public static ConversionOptions Options(string folder) => folder == "resnet_ssd"
        ? new ConversionOptions { Mean = [104f, 177f, 123f] }
        : new ConversionOptions { Mean = [127.5f, 127.5f, 127.5f], Scale = 0.007843f };

    private static readonly Dictionary<string, ConversionResult> models = [];
    private static readonly Dictionary<(string, string), IReadOnlyList<FoundObject>> detections = [];
    private static readonly Dictionary<string, (float[] Input, float[] Priors)> hostRuns = [];

    private static ConversionResult Model(string folder)
    {
        lock (models)
        {
            if (!models.TryGetValue(folder, out var m))
                models[folder] = m = CaffeConverter.Convert(Prototxt(folder), File(folder, "model.caffemodel"), Options(folder));
            return m;
        }
    }

    private static JsonElement Manifest(string folder) => JsonDocument.Parse(System.IO.File.ReadAllText(File(folder, "manifest.json"))).RootElement;

    private static RgbImage Photo(string folder)
    {
        var image = Manifest(folder).GetProperty("image");
        return FromBgr(File(folder, "photo_bgr.bin"), image[0].GetInt32(), image[1].GetInt32());
    }

    /// <summary>The detector's detections on the photo for a backend, computed once.</summary>
    private static IReadOnlyList<FoundObject> Detect(string folder, string backend)
    {
        lock (detections)
        {
            if (detections.TryGetValue((folder, backend), out var hit)) return hit;
            var model = Model(folder);
            var photo = Photo(folder);
            var watch = Stopwatch.StartNew();
            IReadOnlyList<FoundObject> result;
            if (backend == "cpu")
            {
                // On the host, through a network that keeps its input and priors for the tests below.
                var network = new CapturingNetwork(model.Description, model.Tensors, new CpuBackend(), []);
                using var detector = new SsdDetector(model.Description, network, new HostPreprocessor(model.Description.Input));
                result = detector.Detect(photo);
                hostRuns[folder] = (network.LastInput!, network.Priors);
            }
            else
            {
                var device = TestDevices.Device(backend);
                using var detector = SsdDetector.Create(model.Description, model.Tensors, new SsdDetectorOptions(), () => new IlgpuBackend(device));
                result = detector.Detect(photo);
                // Pre-processing, every layer and the post-processing ran on the device.
                Assert.That(detector.LastPostProcessedOnDevice, "post-processed on the device");
            }
            TestContext.Out.WriteLine($"{folder} {backend}: converted, built and run in {watch.Elapsed.TotalSeconds:F1} s");
            return detections[(folder, backend)] = result;
        }
    }

    private static (float[] Input, float[] Priors) HostRun(string folder)
    {
        Detect(folder, "cpu");
        lock (detections) return hostRuns[folder];
    }

    [Test]
    public void ResNetSsdKeepsBatchNormAndScaleAsOpsAroundTheEltwiseSums()
    {
        var m = Model("resnet_ssd");
        var d = m.Description;
        Assert.That(d.Layers.OfType<EltwiseLayer>().Count(), Is.EqualTo(4), "the four shortcut sums");
        Assert.That(d.Layers.OfType<BatchNormLayer>().Count(), Is.EqualTo(d.Layers.OfType<ScaleLayer>().Count()));
        var plan = PlanBuilder.Build(d, m.Tensors, d.Input.Width, d.Input.Height);
        var affine = plan.Steps.OfType<AffineStep>().ToList();
        // On the input (data_bn + data_scale), before each block after a sum (bn1 + scale1 + relu1), and last_bn_h.
        Assert.That(affine.Select(a => a.Layer), Is.EqualTo(new[] { "data_bn", "layer_128_1_bn1_h", "layer_256_1_bn1", "layer_512_1_bn1", "last_bn_h" }));
        Assert.That(affine[0].FusedLayers, Is.EqualTo(new[] { "data_bn", "data_scale" }));
        Assert.That(affine[1].FusedLayers, Is.EqualTo(new[] { "layer_128_1_bn1_h", "layer_128_1_scale1_h", "layer_128_1_relu1" }));
        Assert.That(affine.All(a => a.Affine.Mean is not null && a.Affine.Scale is not null && a.Affine.Bias is not null));
        Assert.That(plan.Steps.OfType<EltwiseStep>().Count(), Is.EqualTo(4));
        // The BatchNorm / Scale pairs after a convolution fold into it as before.
        Assert.That(plan.Steps.OfType<ConvStep>().Single(c => c.Layer == "conv1_h").FusedLayers,
            Is.EqualTo(new[] { "conv1_h", "conv1_bn_h", "conv1_scale_h", "conv1_relu" }));
    }

    [TestCase("mobilenet_ssd")]
    [TestCase("mobilenet_ssd_merged")]
    public void MobileNetRunsDepthwiseConvolutionsWithBatchNormFolded(string folder)
    {
        var m = Model(folder);
        var d = m.Description;
        var plan = PlanBuilder.Build(d, m.Tensors, d.Input.Width, d.Input.Height);
        var depthwise = plan.Steps.OfType<ConvStep>().Where(c => c.Params.Groups > 1).ToList();
        Assert.That(depthwise, Has.Count.EqualTo(13), "conv1/dw .. conv13/dw");
        Assert.That(depthwise.All(c => c.Params.Groups == c.InShape.C && c.OutChannels == c.InShape.C), "depthwise: one group per channel");
        Assert.That(plan.Steps.OfType<AffineStep>(), Is.Empty, "every BatchNorm / Scale follows a convolution and folds into it");
        Assert.That(d.Input.Scale, Is.EqualTo(0.007843f));
        if (folder == "mobilenet_ssd") Assert.That(depthwise[0].FusedLayers, Is.EqualTo(new[] { "conv1/dw", "conv1/dw/bn", "conv1/dw/scale", "conv1/dw/relu" }));
    }

    [TestCaseSource(nameof(Cases))]
    public void PreprocessedInputIsBlobFromImageBitForBit(string folder)
    {
        var expected = ReadFloats(File(folder, "input.bin"));
        TestData.AssertClose(HostRun(folder).Input, expected, 0f, 0f, $"{folder} host pre-processing vs blobFromImage");
    }

    [TestCaseSource(nameof(Cases))]
    public void DevicePreprocessingIsBlobFromImageBitForBit(string folder)
    {
        var device = TestDevices.OpenCL;
        var settings = InputPreprocessing.FromSpec(Model(folder).Description.Input);
        var photo = Photo(folder);
        using var pixels = device.Accelerator.Allocate1D(photo.Pixels);
        using var output = device.Allocate(settings.OutputLength);
        using var op = new PreprocessOp(device);
        op.Forward(pixels.View, photo.Width, photo.Height, settings, output.View);
        TestData.AssertClose(output.GetAsArray1D(), ReadFloats(File(folder, "input.bin")), 0f, 0f, $"{folder} PoCL pre-processing vs blobFromImage");
    }

    [TestCaseSource(nameof(Cases))]
    public void PriorsMatchOpencvPriorbox(string folder)
    {
        var expected = ReadFloats(File(folder, "mbox_priorbox.bin"));
        var actual = HostRun(folder).Priors;
        Assert.That(actual, Has.Length.EqualTo(expected.Length), "priors: boxes then variances");
        TestData.AssertClose(actual, expected, 0f, 1e-6f, $"{folder} priors");
    }

    [TestCaseSource(nameof(CasesOnBackends))]
    public void DetectionsMatchOpencvDetectionOutput(string folder, string backend)
    {
        var expected = ReadDetections(Manifest(folder).GetProperty("detections"));
        var spec = Model(folder).Description.PostProcess;
        Assert.That(expected, Has.Length.GreaterThan(10), "the reference should find many detections");
        var actual = Detect(folder, backend);
        var cutoffs = expected.Length >= spec.KeepTopK && spec.KeepTopK > 0
            ? new[] { spec.ConfidenceThreshold, expected.Min(d => d.Score) } : [spec.ConfidenceThreshold];
        DetectionMatch.AssertSameSet($"{folder} {backend}", expected, actual, BoxTolerance, ScoreTolerance, cutoffs);
    }

    [TestCaseSource(nameof(CasesOnBackends))]
    public void SameCountAndClassesAsOpencv(string folder, string backend)
    {
        var expected = ReadDetections(Manifest(folder).GetProperty("detections"));
        var actual = Detect(folder, backend);
        Assert.That(actual, Has.Count.EqualTo(expected.Length), $"{folder} {backend}: detection count");
        Assert.That(actual.Select(d => d.ClassId).Order(), Is.EqualTo(expected.Select(d => d.ClassId).Order()), $"{folder} {backend}: classes");
    }
}
