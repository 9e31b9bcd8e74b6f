using Ssd.Imaging;
using Ssd.Engine.Backends.Ilgpu;
using Ssd.Engine.Detection;
using Ssd.Engine.Imaging;
using Ssd.Engine.Network;
using Ssd.Kernels.Preprocess;
using Ssd.Tests.Weights;
using Ssd.Weights.Model;
using Ssd.Weights.Tensors;

namespace Ssd.Tests.Detection;

/// <summary>
/// Pre-processing on the device (pixels up once, PreprocessOp writing straight into the network input) against
/// the host path (PreprocessReference, floats uploaded), on every test device with two real models: the bundled shapes example
/// (torchvision flavour, torch bilinear resize) and the shared face detector (Caffe flavour, OpenCV linear resize).
/// Each batch mixes image sizes, so the resize, the per-image ranges of the pixel buffer and the tap tables of
/// several source sizes are all exercised. The network input and heads must be bit-identical, and so the detections.
/// </summary>
public class DevicePreprocessTests
{
    /// <summary>Both models on every test device (PoCL; CUDA when the run asks for it: TestDevices).</summary>
    public static IEnumerable<TestCaseData> Models() =>
        from device in TestDevices.DeviceNames from name in new[] { "shapes", "face" } select new TestCaseData(name, device);

    private static readonly Dictionary<string, (ModelDescription Model, IReadOnlyDictionary<string, TensorData> Tensors)> models = [];

    private static (ModelDescription Model, IReadOnlyDictionary<string, TensorData> Tensors) Model(string name)
    {
        lock (models)
        {
            if (models.TryGetValue(name, out var hit)) return hit;
            if (name == "shapes") return models[name] = ModelFile.Load(Path.Combine(WeightsPaths.RepoRoot, "examples", "shapes", "shapes_ssd.safetensors"));
            var dir = WeightsPaths.FaceModelDir;
            var face = CaffeConverter.Convert(Path.Combine(dir, "deploy.prototxt"), Path.Combine(dir, "model.caffemodel"));
            return models[name] = (face.Description, face.Tensors);
        }
    }

    /// <summary>A real image of the example, an odd-sized synthetic one, and (face) the shared photo.</summary>
    private static RgbImage[] Images(string name)
    {
        var shapes = ImageDecoder.Load(Path.Combine(WeightsPaths.RepoRoot, "examples", "shapes", "shapes_001.jpg"));
        var random = new Random(7);
        var pixels = new byte[437 * 271 * 3];
        random.NextBytes(pixels);
        var noise = new RgbImage(437, 271, pixels);
        if (name == "shapes") return [shapes, noise];
        var photo = Path.Combine(WeightsPaths.Shared, "images", "keliamoniz1.jpg");
        if (!File.Exists(photo)) Assert.Ignore($"shared photo not found at {photo}");
        return [ImageDecoder.Load(photo), noise, shapes];
    }

    [TestCaseSource(nameof(Models))]
    public void DevicePreprocessingGivesTheHostInputBitForBit(string name, string deviceName)
    {
        var (model, tensors) = Model(name);
        var images = Images(name);
        var settings = InputPreprocessing.FromSpec(model.Input);
        var host = new float[images.Length * settings.OutputLength];
        for (int i = 0; i < images.Length; i++)
            PreprocessReference.Forward(images[i].Pixels, images[i].Width, images[i].Height, settings,
                host.AsSpan((int)(i * settings.OutputLength), (int)settings.OutputLength));

        using var backend = new IlgpuBackend(TestDevices.Device(deviceName));
        using var network = SsdNetwork.Load(model, tensors, backend, batch: images.Length, capture: [model.Input.Blob]);
        var onDevice = network.Forward(images, settings, [model.Input.Blob]);
        var fromHost = network.Forward(host, [model.Input.Blob]);

        Assert.That(settings.Resize, Is.EqualTo(name == "shapes" ? ResizeKind.TorchBilinear : ResizeKind.OpenCvLinear));
        Assert.That(onDevice.Captured[model.Input.Blob], Is.EqualTo(host), "network input");
        Assert.That(fromHost.Captured[model.Input.Blob], Is.EqualTo(host), "network input (host path)");
        Assert.That(onDevice.Loc, Is.EqualTo(fromHost.Loc), "loc");
        Assert.That(onDevice.Conf, Is.EqualTo(fromHost.Conf), "conf");
    }

    [TestCaseSource(nameof(Models))]
    public void DetectorWithDevicePreprocessingFindsWhatTheHostPathFinds(string name, string deviceName)
    {
        var (model, tensors) = Model(name);
        var images = Images(name);
        IReadOnlyList<IReadOnlyList<Ssd.Engine.Detection.Detection>> Run(bool onDevice, out DetectorTimings timings)
        {
            var options = new SsdDetectorOptions { PreprocessOnDevice = onDevice, MaxBatch = images.Length };
            using var detector = SsdDetector.Create(model, tensors, options, () => new IlgpuBackend(TestDevices.Device(deviceName)));
            var result = detector.Detect(images);
            timings = detector.LastTimings;
            return result;
        }

        var device = Run(true, out var deviceTimings);
        var host = Run(false, out var hostTimings);

        Assert.That(host.Sum(d => d.Count), Is.GreaterThan(0), "the host path found nothing: the comparison would be vacuous");
        for (int i = 0; i < images.Length; i++)
            Assert.That(device[i], Is.EqualTo(host[i]), $"image {i}");
        // The device path does no host pre-processing (it is timed with the network); the host path does.
        Assert.That(deviceTimings.Preprocess, Is.EqualTo(TimeSpan.Zero));
        Assert.That(hostTimings.Preprocess, Is.GreaterThan(TimeSpan.Zero));
    }
}
