using System.Diagnostics;
using System.Text.Json;
using Ssd.Engine.Backends.Cpu;
using Ssd.Kernels.Cpu;
using Ssd.Engine.Detection;
using Ssd.Engine.Imaging;
using Ssd.Engine.Network;
using Ssd.Weights.Model;
using static Ssd.Tests.Acceptance.PeerFixtures;
using static Ssd.Tests.Engine.NetworkFixtures;
using FoundObject = Ssd.Engine.Detection.Detection;

namespace Ssd.Tests.Acceptance;

/// <summary>
/// Acceptance: full-size Caffe SSD300 and SSD512 (VGG16, VOC0712, the published deploy architectures with seeded
/// random weights, tools/fixtures/make_caffe_acceptance.py) converted with CaffeConverter (--mean 104,117,123) and
/// run by SsdDetector on the managed CPU backend on the real photo give what OpenCV DNN gives on the same prototxt
/// and caffemodel: the blobFromImage input, PriorBox's priors, and DetectionOutput's detections as a set (boxes
/// within 0.01 px, scores within 1e-5); with CUDA as a test target (TestDevices) the detections of the whole detector
/// on the GPU too. Each network runs once per backend; the tests share it.
/// </summary>
public class CaffeSsdAcceptanceTests
{
    private const string Script = "make_caffe_acceptance.py";

    private sealed record Run(ModelDescription Model, float[] Input, float[] Priors, IReadOnlyList<FoundObject> Detections, JsonElement Manifest);

    private static readonly Dictionary<int, Run> runs = [];

    private static string File(int size, string name) => Generated($"caffe_ssd{size}", name, Script);

    private static Run Result(int size)
    {
        lock (runs)
        {
            if (runs.TryGetValue(size, out var hit)) return hit;
            var manifest = JsonDocument.Parse(System.IO.File.ReadAllText(File(size, "manifest.json"))).RootElement;
            int width = manifest.GetProperty("image")[0].GetInt32(), height = manifest.GetProperty("image")[1].GetInt32();
            var photo = FromBgr(File(size, "photo_bgr.bin"), width, height);
            var watch = Stopwatch.StartNew();
            var model = CaffeConverter.Convert(File(size, "deploy.prototxt"), File(size, "model.caffemodel"),
                new ConversionOptions { Mean = [104f, 117f, 123f] });
            var network = new CapturingNetwork(model.Description, model.Tensors, new CpuBackend(), []);
            using var detector = new SsdDetector(model.Description, network, new HostPreprocessor(model.Description.Input));
            var detections = detector.Detect(photo);
            TestContext.Out.WriteLine($"caffe ssd{size}: converted, built and run in {watch.Elapsed.TotalSeconds:F1} s (CPU backend)");
            return runs[size] = new Run(model.Description, network.LastInput!, network.Priors, detections, manifest);
        }
    }

    [TestCase(300)]
    [TestCase(512)]
    public void ConvertedModelIsCaffeVoc(int size)
    {
        var r = Result(size);
        Assert.That(r.Model.Flavor, Is.EqualTo(ModelFlavor.Caffe));
        Assert.That(r.Model.PostProcess.NumClasses, Is.EqualTo(21));
        Assert.That(r.Model.PostProcess.KeepTopK, Is.EqualTo(200));
    }

    [TestCase(300)]
    [TestCase(512)]
    public void PreprocessedInputMatchesBlobFromImage(int size) =>
        AssertRelative($"ssd{size} input (blobFromImage, mean 104,117,123)", Result(size).Input, ReadFloats(File(size, "input.bin")), 1e-6);

    [TestCase(300)]
    [TestCase(512)]
    public void PriorsMatchOpencvPriorbox(int size)
    {
        // OpenCV's PriorBox keeps min_size/max_size as floats (SSD512's 35.84 stays 35.84) and sizes the
        // aspect-ratio boxes min_size * sqrt(ar); the engine must give the same boxes and variances.
        var expected = ReadFloats(File(size, "mbox_priorbox.bin"));
        var actual = Result(size).Priors;
        Assert.That(actual, Has.Length.EqualTo(expected.Length), "priors: boxes then variances");
        float worst = 0;
        int worstAt = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            float d = MathF.Abs(actual[i] - expected[i]);
            if (d > worst) (worst, worstAt) = (d, i);
        }
        TestContext.Out.WriteLine($"ssd{size} priors: max |diff| {worst:G3} (at {worstAt}: {actual[worstAt]} vs {expected[worstAt]})");
        Assert.That(worst, Is.LessThanOrEqualTo(1e-6f), $"ssd{size} prior value {worstAt}: {actual[worstAt]} vs OpenCV {expected[worstAt]}");
    }

    /// <summary>The CPU backend, and CUDA when the run asks for it (TestDevices); PoCL would take minutes per VGG network.</summary>
    public static IEnumerable<TestCaseData> SizesOnBackends() =>
        from size in new[] { 300, 512 }
        from backend in new[] { "cpu" }.Concat(TestDevices.DeviceNames.Where(d => d == "cuda"))
        select new TestCaseData(size, backend);

    /// <summary>The whole detector on a device (pre-processing, every layer, the post-processing), computed once per size.</summary>
    private static readonly Dictionary<(int, string), IReadOnlyList<FoundObject>> onDevice = [];

    private static IReadOnlyList<FoundObject> Detections(int size, string backend)
    {
        if (backend == "cpu") return Result(size).Detections;
        lock (onDevice)
        {
            if (onDevice.TryGetValue((size, backend), out var hit)) return hit;
            var device = TestDevices.Device(backend);
            var r = Result(size);
            var manifest = r.Manifest;
            var photo = FromBgr(File(size, "photo_bgr.bin"), manifest.GetProperty("image")[0].GetInt32(), manifest.GetProperty("image")[1].GetInt32());
            var model = CaffeConverter.Convert(File(size, "deploy.prototxt"), File(size, "model.caffemodel"), new ConversionOptions { Mean = [104f, 117f, 123f] });
            var watch = Stopwatch.StartNew();
            using var detector = SsdDetector.Create(model.Description, model.Tensors, new SsdDetectorOptions(), () => new Ssd.Engine.Backends.Ilgpu.IlgpuBackend(device));
            var detections = detector.Detect(photo);
            Assert.That(detector.LastPostProcessedOnDevice, "post-processed on the device");
            TestContext.Out.WriteLine($"caffe ssd{size}: built and run on {backend} in {watch.Elapsed.TotalSeconds:F1} s");
            return onDevice[(size, backend)] = detections;
        }
    }

    [TestCaseSource(nameof(SizesOnBackends))]
    public void DetectionsMatchOpencvDetectionOutput(int size, string backend)
    {
        var r = Result(size);
        var expected = ReadDetections(r.Manifest.GetProperty("detections"));
        var spec = r.Model.PostProcess;
        Assert.That(expected, Has.Length.GreaterThan(10), "the reference should find many detections");
        // Cut-offs: the confidence threshold, and the lowest kept score when keep_top_k truncated the list.
        var cutoffs = expected.Length >= spec.KeepTopK ? new[] { spec.ConfidenceThreshold, expected.Min(d => d.Score) } : [spec.ConfidenceThreshold];
        DetectionMatch.AssertSameSet($"caffe ssd{size} {backend}", expected, Detections(size, backend), boxTolerance: 0.01f, scoreTolerance: 1e-5f, cutoffs);
    }
}
