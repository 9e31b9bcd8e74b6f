using System.Diagnostics;
using System.Text.Json;
using Ssd.Imaging;
using Ssd.Engine.Backends;
using Ssd.Engine.Backends.Cpu;
using Ssd.Kernels.Cpu;
using Ssd.Engine.Backends.Ilgpu;
using Ssd.Engine.Detection;
using FoundObject = Ssd.Engine.Detection.Detection;
using Ssd.Engine.Imaging;
using Ssd.Tests.Weights;
using Ssd.Weights.Model;
using static Ssd.Tests.Acceptance.PeerFixtures;

namespace Ssd.Tests.Acceptance;

/// <summary>
/// Acceptance: the real face detector (shared yufacedetectnet-open-v2, its unedited prototxt, converted with
/// CaffeConverter) run end to end by SsdDetector on the real photo gives the faces OpenCV DNN's DetectionOutput
/// gives (tools/fixtures/make_face_fixtures.py), at the model's 320x240 and at the photo's native 640x480, on the
/// managed CPU backend and on every test device (PoCL; CUDA when the run asks for it: TestDevices). Both sides start from the same decoded pixels (cv2.imread's, dumped by the
/// script). Each network runs once per backend and size; the results are shared by the tests.
/// </summary>
public class FaceAcceptanceTests
{
    private const string Script = "make_face_fixtures.py";
    private const float BoxTolerance = 1f, ScoreTolerance = 1e-4f;
    private static readonly Dictionary<(string Backend, string Size), IReadOnlyList<FoundObject>> cache = [];
    private static readonly Lazy<ConversionResult> model = new(() =>
    {
        var dir = WeightsPaths.FaceModelDir;
        return CaffeConverter.Convert(Path.Combine(dir, "deploy.prototxt"), Path.Combine(dir, "model.caffemodel"));
    });

    public static IEnumerable<TestCaseData> Cases() =>
        from backend in Engine.NetworkFixtures.BackendNames
        from size in new[] { "320x240", "native" }
        select new TestCaseData(backend, size);

    private static (PeerDetection[] Detections, int Width, int Height) Reference(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Generated("face", file, Script)));
        var image = doc.RootElement.GetProperty("image");
        return (ReadDetections(doc.RootElement.GetProperty("detections")), image[0].GetInt32(), image[1].GetInt32());
    }

    private static RgbImage Photo(int width, int height) => FromBgr(Generated("face", "photo_bgr.bin", Script), width, height);

    private static Func<IBackend> BackendFactoryFor(string name) => () => Engine.NetworkFixtures.Backend(name);

    /// <summary>The detector's result on the photo for a backend and input size, computed once.</summary>
    private static IReadOnlyList<FoundObject> Detect(string backend, string size, RgbImage photo)
    {
        lock (cache)
        {
            if (cache.TryGetValue((backend, size), out var hit)) return hit;
            if (backend != "cpu") _ = TestDevices.Device(backend); // ignores (or fails) here when there is no such device
            var watch = Stopwatch.StartNew();
            var options = new SsdDetectorOptions { InputSize = size == "native" ? InputSize.Native : InputSize.Parse(size) };
            using var detector = SsdDetector.Create(model.Value.Description, model.Value.Tensors, options, BackendFactoryFor(backend));
            var result = detector.Detect(photo);
            // On a device the whole batch runs there, post-processing included; the CPU backend stays on the host.
            Assert.That(detector.LastPostProcessedOnDevice, Is.EqualTo(backend != "cpu"), "post-processed on the device");
            TestContext.Out.WriteLine($"face {backend} {size}: detector built and run in {watch.Elapsed.TotalSeconds:F1} s");
            return cache[(backend, size)] = result;
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void FaceDetectionsMatchOpencvDnn(string backend, string size)
    {
        var (_, width, height) = Reference("detections_320x240.json");
        var file = size == "native" ? $"detections_{width}x{height}.json" : $"detections_{size}.json";
        var (expected, _, _) = Reference(file);
        var actual = Detect(backend, size, Photo(width, height));
        var spec = model.Value.Description.PostProcess;
        Assert.That(expected, Has.Length.GreaterThan(0), "the reference found nothing");
        // Cut-offs: the confidence threshold, and the lowest kept score when keep_top_k truncated the list.
        var cutoffs = expected.Length >= spec.KeepTopK ? new[] { spec.ConfidenceThreshold, expected.Min(d => d.Score) } : [spec.ConfidenceThreshold];
        DetectionMatch.AssertSameSet($"face {backend} {size}", expected, actual, BoxTolerance, ScoreTolerance, cutoffs);
        // The face itself: the best detection is the same, clearly above the rest.
        Assert.That(actual[0].Score, Is.GreaterThan(0.9f));
        Assert.That(actual[0].Score, Is.EqualTo(expected.Max(d => d.Score)).Within(ScoreTolerance));
    }

    /// <summary>Ssd.Imaging's SkiaSharp decoder gives cv2.imread's pixels of the real photo bit for bit.</summary>
    [Test]
    public void OurJpegDecoderGivesCv2ImreadPixels()
    {
        var (_, width, height) = Reference("detections_320x240.json");
        var path = Path.Combine(WeightsPaths.Shared, "images", "keliamoniz1.jpg");
        if (!File.Exists(path)) Assert.Ignore($"shared photo not found at {path}");
        Assert.That(ImageDecoder.Load(path).Pixels, Is.EqualTo(Photo(width, height).Pixels));
    }

    /// <summary>
    /// On a device the device post-processing gives exactly the detections of the host post-processor run on the same
    /// downloaded heads (PostProcessOnDevice false), for a batch of two; the fallback really stays on the host. On CUDA,
    /// where the PTX JIT may contract a multiply and an add into one FMA, the difference is measured, printed and bounded
    /// (<see cref="Detection.DeviceHostDifference"/>).
    /// </summary>
    [TestCaseSource(typeof(TestDevices), nameof(TestDevices.DeviceNames))]
    public void DevicePostProcessingEqualsTheHostOne(string deviceName)
    {
        _ = TestDevices.Device(deviceName);
        var (_, width, height) = Reference("detections_320x240.json");
        var photo = Photo(width, height);
        IReadOnlyList<IReadOnlyList<FoundObject>> Run(bool onDevice)
        {
            var options = new SsdDetectorOptions { InputSize = InputSize.Parse("320x240"), PostProcessOnDevice = onDevice, ConfidenceThreshold = 0.05f };
            using var detector = SsdDetector.Create(model.Value.Description, model.Value.Tensors, options, BackendFactoryFor(deviceName));
            var result = detector.Detect([photo, photo]);
            Assert.That(detector.LastPostProcessedOnDevice, Is.EqualTo(onDevice));
            Assert.That(detector.LastTimings.Network, Is.GreaterThan(TimeSpan.Zero));
            return result;
        }
        var device = Run(true);
        var host = Run(false);
        Assert.That(host[0], Has.Count.GreaterThan(1), "the case has detections");
        Detection.DeviceHostDifference.AssertSame("face 320x240, batch 2", deviceName, host, device);
    }
}
