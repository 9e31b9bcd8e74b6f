using ILGPU.Runtime;
using Ssd.Engine.Detection;
using Ssd.Engine.Imaging;
using Ssd.Engine.PostProcessing;
using Ssd.Kernels.Detect;
using Ssd.Weights.Model;

namespace Ssd.Tests.Detection;

/// <summary>The detector end to end with a fake network that returns the fixture's loc / conf (a stand-in until the engine is merged).</summary>
public class SsdDetectorTests
{
    internal sealed class FixtureNetwork(PostProcessFixture f) : ISsdNetwork
    {
        public bool Disposed;
        public float[] Priors => f.CenterPriors;
        public (float[] Loc, float[] Conf) Forward(float[] input, int batch)
        {
            // Each batch item carries the fixture image index in its first float (set by the preprocessor below).
            var loc = new List<float>(); var conf = new List<float>();
            for (int b = 0; b < batch; b++)
            {
                int img = (int)input[b * 3 * 4 * 4];
                loc.AddRange(f.Loc.AsSpan(img * f.Priors * 4, f.Priors * 4).ToArray());
                conf.AddRange(f.Logits.AsSpan(img * f.Priors * f.Classes, f.Priors * f.Classes).ToArray());
            }
            return (loc.ToArray(), conf.ToArray());
        }
        public void Dispose() => Disposed = true;
    }

    internal sealed class IndexPreprocessor : IPreprocessor
    {
        public void Run(RgbImage image, Span<float> destination) => destination[0] = image.Pixels[0];
    }

    internal static ModelDescription Model(PostProcessFixture f) => new()
    {
        Name = "fake", Flavor = ModelFlavor.SsdPytorch, Layers = [],
        Input = new InputSpec { Width = 4, Height = 4, ChannelOrder = ChannelOrder.Bgr, Mean = [0, 0, 0], Std = [1, 1, 1], PixelRange = PixelRange.Byte, Resize = ResizeMethod.OpenCvLinear },
        Outputs = new OutputSpec { Loc = "loc", Conf = "conf", ConfIsProbability = false },
        Priors = new PriorConfig { Style = ModelFlavor.SsdPytorch, Maps = [] },
        PostProcess = new PostProcessSpec { Style = ModelFlavor.SsdPytorch, NumClasses = f.Classes, ConfidenceThreshold = 0.01f, NmsThreshold = 0.45f, TopK = 200, ClassNames = ["bg", "a", "b", "c", "d", "e"] },
    };

    internal static RgbImage Image(int index, (int W, int H) size)
    {
        var pixels = new byte[size.W * size.H * 3];
        pixels[0] = (byte)index;
        return new RgbImage(size.W, size.H, pixels);
    }

    [Test]
    public void BatchedDetectMatchesTheFixtureAndLabels()
    {
        var f = PostProcessFixture.Load();
        var net = new FixtureNetwork(f);
        var detector = new SsdDetector(Model(f), net, new IndexPreprocessor(), new SsdDetectorOptions { MaxBatch = 1 });
        var images = Enumerable.Range(0, f.Images).Select(i => Image(i, (f.Sizes[i].Width, f.Sizes[i].Height))).ToList();
        var results = detector.Detect(images);
        var expected = f.Cases["ssdpytorch-voc"].Expected;
        for (int i = 0; i < f.Images; i++)
        {
            Assert.That(results[i], Has.Count.EqualTo(expected.Count(r => (int)r[0] == i)));
            Assert.That(results[i].All(d => d.Label == new[] { "bg", "a", "b", "c", "d", "e" }[d.ClassId] && d.ClassId > 0));
        }
        Assert.That(detector.Detect(images[1]).Select(d => d.Score), Is.EqualTo(results[1].Select(d => d.Score)));
        detector.Dispose();
        Assert.That(net.Disposed);
        Assert.Throws<ObjectDisposedException>(() => detector.Detect(images[0]));
    }

    [Test]
    public void ThresholdOverrideApplies()
    {
        var f = PostProcessFixture.Load();
        using var detector = new SsdDetector(Model(f), new FixtureNetwork(f), new IndexPreprocessor(), new SsdDetectorOptions { ConfidenceThreshold = 0.5f });
        var d = detector.Detect(Image(0, (f.Sizes[0].Width, f.Sizes[0].Height)));
        Assert.That(d, Is.Not.Empty);
        Assert.That(d.All(x => x.Score > 0.5f));
    }

    /// <summary>The fixture network that also post-processes "on its device": a DevicePostProcessor on the CPU simulator, by the rules it is handed.</summary>
    private sealed class DeviceFixtureNetwork(PostProcessFixture f) : ISsdNetwork
    {
        private readonly FixtureNetwork host = new(f);
        public PostProcessRules? Rules;
        public float[] Priors => host.Priors;
        public (float[] Loc, float[] Conf) Forward(float[] input, int batch) => host.Forward(input, batch);
        public bool PostProcessesOnDevice(PostProcessRules rules, int batch) => true;
        public IReadOnlyList<PostDetection>[] Detect(float[] input, int batch, PostProcessRules rules, IReadOnlyList<ImageSize> originalSizes)
        {
            Rules = rules;
            var (loc, conf) = Forward(input, batch);
            var device = TestDevices.CpuSim;
            using var post = new DevicePostProcessor(device, device.Accelerator.DefaultStream, rules, Priors);
            using var l = device.Accelerator.Allocate1D(loc);
            using var c = device.Accelerator.Allocate1D(conf);
            return post.Run(l.View, c.View, originalSizes);
        }
        public void Dispose() => host.Dispose();
    }

    /// <summary>
    /// The threshold override is applied in one place: a detector wired to a network that post-processes on its
    /// device hands that network the rules its host post-processor follows, so both give the same detections, all
    /// above the override.
    /// </summary>
    [Test]
    public void ThresholdOverrideIsTheSameOnTheDeviceAndTheHost()
    {
        var f = PostProcessFixture.Load();
        var images = Enumerable.Range(0, f.Images).Select(i => Image(i, (f.Sizes[i].Width, f.Sizes[i].Height))).ToList();
        IReadOnlyList<IReadOnlyList<Ssd.Engine.Detection.Detection>> Run(bool onDevice)
        {
            var network = new DeviceFixtureNetwork(f);
            var options = new SsdDetectorOptions { ConfidenceThreshold = 0.3f, PostProcessOnDevice = onDevice, MaxBatch = 2 };
            using var detector = new SsdDetector(Model(f), network, new IndexPreprocessor(), options);
            var result = detector.Detect(images);
            Assert.That(detector.LastPostProcessedOnDevice, Is.EqualTo(onDevice));
            if (onDevice) Assert.That(network.Rules!.Params.ConfidenceThreshold, Is.EqualTo(0.3f));
            return result;
        }
        var device = Run(true);
        var host = Run(false);
        Assert.That(host.Sum(d => d.Count), Is.GreaterThan(2), "the case has detections");
        Assert.That(host.SelectMany(d => d).All(d => d.Score > 0.3f));
        for (int i = 0; i < f.Images; i++) Assert.That(device[i], Is.EqualTo(host[i]), $"image {i}");
    }
}
