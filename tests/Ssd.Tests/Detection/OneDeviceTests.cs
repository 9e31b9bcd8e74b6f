using Ssd.Engine.Detection;
using Ssd.Engine.Imaging;
using Ssd.Engine.PostProcessing;
using Ssd.Kernels.Core;
using Ssd.Kernels.Preprocess;
using Ssd.Tests.Engine;

namespace Ssd.Tests.Detection;

/// <summary>
/// One device per detector: every batch size and input size shares the detector's one backend (one ILGPU context);
/// native-size networks live in a bounded least-recently-used cache; an image too small for the network is that
/// image's error; the wiring constructor honours PreprocessOnDevice.
/// </summary>
[NonParallelizable] // counts the process's ILGPU contexts
public class OneDeviceTests
{
    /// <summary>Five sizes, one of them nine times (a batch of 8 and a remainder of 1), in mixed order.</summary>
    private static RgbImage[] FiveSizes()
    {
        (int W, int H)[] sizes = [(24, 20), (31, 17), (16, 16), (40, 28), (19, 23)];
        var images = new List<RgbImage>();
        for (int i = 0; i < 9; i++) images.Add(TinySsd.Image(24, 20, 100 + i));
        for (int s = 1; s < sizes.Length; s++) images.Insert(2 * s, TinySsd.Image(sizes[s].W, sizes[s].H, 200 + s));
        return [.. images];
    }

    [Test]
    public void NativeInputOverFiveSizesWithBatch8CreatesOneIlgpuContext()
    {
        var (model, tensors) = TinySsd.Create();
        var images = FiveSizes();
        Assert.That(images.Select(i => (i.Width, i.Height)).Distinct().Count(), Is.EqualTo(5));
        long before = KernelContext.Created;
        using (var detector = SsdDetector.Create(model, tensors, new SsdDetectorOptions { Backend = DetectorBackend.CpuSim, MaxBatch = 8, InputSize = InputSize.Native }))
        {
            var results = detector.Detect(images);
            Assert.That(results, Has.Count.EqualTo(images.Length));
            Assert.That(detector.CachedNetworks, Is.EqualTo(6), "five sizes, the first at batch 8 and 1");
            detector.Detect(images.Reverse().ToArray());
        }
        Assert.That(KernelContext.Created - before, Is.EqualTo(1), "ILGPU contexts created by one detector over five sizes and two batch sizes");
    }

    [Test]
    public void NativeNetworksStayWithinTheBoundAndGiveTheSameDetections()
    {
        var (model, tensors) = TinySsd.Create();
        var images = FiveSizes();
        using var unbounded = SsdDetector.Create(model, tensors, new SsdDetectorOptions { Backend = DetectorBackend.Cpu, InputSize = InputSize.Native, MaxNetworks = 16 });
        using var bounded = SsdDetector.Create(model, tensors, new SsdDetectorOptions { Backend = DetectorBackend.Cpu, InputSize = InputSize.Native, MaxNetworks = 2 });
        var expected = unbounded.Detect(images);
        Assert.That(unbounded.CachedNetworks, Is.EqualTo(5), "one batch-1 network per size: the CPU backend runs batches image by image");
        Assert.That(expected.Sum(d => d.Count), Is.GreaterThan(0), "the tiny model should detect something on noise at threshold 0.2");
        for (int round = 0; round < 2; round++)
        {
            var actual = bounded.Detect(images);
            Assert.That(bounded.CachedNetworks, Is.LessThanOrEqualTo(2));
            for (int i = 0; i < images.Length; i++)
                Assert.That(actual[i], Is.EqualTo(expected[i]), $"round {round}, image {i}");
        }
    }

    [Test]
    public void AnImageTooSmallForTheNetworkIsThatImagesError()
    {
        var (model, tensors) = TinySsd.Create();
        RgbImage[] images = [TinySsd.Image(24, 20, 1), TinySsd.Image(5, 5, 2), TinySsd.Image(31, 17, 3)];
        using var detector = SsdDetector.Create(model, tensors, new SsdDetectorOptions { Backend = DetectorBackend.Cpu, InputSize = InputSize.Native });
        var results = detector.DetectEach(images);
        Assert.That(results[0].Succeeded && results[2].Succeeded);
        Assert.That(results[1].Error, Is.TypeOf<ImageSizeException>());
        Assert.That(results[1].Error!.Message, Does.Contain("5x5").And.Contain("conv2"));
        Assert.That(results[1].Detections, Is.Empty);
        // The others are what they are without the small image in the call.
        Assert.That(results[0].Detections, Is.EqualTo(detector.Detect(images[0])));
        Assert.That(results[2].Detections, Is.EqualTo(detector.Detect(images[2])));
        Assert.Throws<ImageSizeException>(() => detector.Detect(images));
    }

    /// <summary>A network that can pre-process on its device and records which input it got.</summary>
    private sealed class RecordingNetwork : ISsdNetwork
    {
        private const int Count = 2;
        public float[] Priors { get; } = [0.1f, 0.1f, 0.4f, 0.4f, 0.5f, 0.5f, 0.9f, 0.9f, .1f, .1f, .2f, .2f, .1f, .1f, .2f, .2f];
        public string? LastInput { get; private set; }
        public bool PreprocessesOnDevice => true;
        public (float[] Loc, float[] Conf) Forward(float[] input, int batch) { LastInput = "host"; return Output(batch); }
        public (float[] Loc, float[] Conf) Forward(IReadOnlyList<RgbImage> images, PreprocessSettings settings) { LastInput = "device"; return Output(images.Count); }
        private static (float[], float[]) Output(int batch) => (new float[batch * Count * 4], Enumerable.Repeat(0.5f, batch * Count * 2).ToArray());
        public void Dispose() { }
    }

    [TestCase(true, "device")]
    [TestCase(false, "host")]
    public void TheWiringConstructorHonoursPreprocessOnDevice(bool onDevice, string expected)
    {
        var (model, _) = TinySsd.Create();
        model = model with { PostProcess = model.PostProcess with { NumClasses = 2 } };
        var network = new RecordingNetwork();
        using var detector = new SsdDetector(model, network, new HostPreprocessor(model.Input), new SsdDetectorOptions { PreprocessOnDevice = onDevice });
        detector.Detect(TinySsd.Image(30, 30, 1));
        Assert.That(network.LastInput, Is.EqualTo(expected));
    }
}
