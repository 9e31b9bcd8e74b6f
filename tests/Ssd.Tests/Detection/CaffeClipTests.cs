using ILGPU.Runtime;
using Ssd.Engine.PostProcessing;
using Ssd.Engine.PostProcessing.Reference;
using Ssd.Kernels.Detect;
using Ssd.Weights.Model;

namespace Ssd.Tests.Detection;

/// <summary>
/// OpenCV DNN's DetectionOutput `clip` (res10_300x300 face detector): with the Caffe rules' Clip the host
/// post-processor gives the Caffe reference's detections with clipping, bit for bit, and the device (PoCL) the host's;
/// the boxes then lie in the image, and without the clip they would not (the case decodes many boxes past the edges).
/// </summary>
public class CaffeClipTests
{
    private static (float[] Priors, float[] Loc, float[] Conf, PostProcessParams P) Case()
    {
        const int p = 600, c = 3;
        var rng = new Random(17);
        var priors = DevicePostProcessTests.Priors(p, rng).Caffe;
        var loc = new float[2 * p * 4];
        for (int i = 0; i < loc.Length; i++) loc[i] = 8f * rng.NextSingle() - 4f; // far beyond the priors: boxes leave the image
        var conf = new float[2 * p * c];
        for (int i = 0; i < conf.Length; i++) conf[i] = 3f * rng.NextSingle();
        return (priors, loc, conf, new PostProcessParams(c, 0, 0.4f, 0.45f, 100, 50, ConfIsProbability: false));
    }

    private static readonly ImageSize[] Sizes = [new(640, 480), new(300, 300)];

    private static PostProcessRules Rules(PostProcessParams p) => PostProcessRules.For(ModelFlavor.Caffe, p, null, 300, 300) with { Clip = true };

    [Test]
    public void HostWithClipIsTheReferenceWithClip()
    {
        var (priors, loc, conf, p) = Case();
        var expected = new CaffeDetectionOutputReference(priors, p, clip: true).Run(loc, conf, Sizes);
        var host = new PostProcessor(Rules(p), priors).Run(loc, conf, Sizes);
        DevicePostProcessTests.AssertSame(expected, host);
        for (int img = 0; img < Sizes.Length; img++)
            Assert.That(host[img].All(d => d.X1 >= 0 && d.Y1 >= 0 && d.X2 <= Sizes[img].Width && d.Y2 <= Sizes[img].Height), $"image {img}: boxes inside");
        var unclipped = new CaffeDetectionOutputReference(priors, p).Run(loc, conf, Sizes);
        Assert.That(unclipped.SelectMany(d => d).Any(d => d.X1 < 0 || d.Y1 < 0), "without the clip some boxes leave the image");
    }

    [TestCaseSource(typeof(TestDevices), nameof(TestDevices.DeviceNames))]
    public void DeviceWithClipIsTheHost(string deviceName)
    {
        var (priors, loc, conf, p) = Case();
        var device = TestDevices.Device(deviceName);
        var host = new PostProcessor(Rules(p), priors).Run(loc, conf, Sizes);
        using var post = new DevicePostProcessor(device, device.Accelerator.DefaultStream, Rules(p), priors);
        using var l = device.Accelerator.Allocate1D(loc);
        using var c = device.Accelerator.Allocate1D(conf);
        Assert.That(host, Has.All.Not.Empty, "every image of the case has detections");
        DeviceHostDifference.AssertSame("caffe clip", deviceName, host, post.Run(l.View, c.View, Sizes));
    }

    [Test]
    public void TheModelSaysWhenToClip()
    {
        var spec = new PostProcessSpec { Style = ModelFlavor.Caffe, NumClasses = 3, ConfidenceThreshold = 0.1f, NmsThreshold = 0.45f, TopK = 10, Clip = true };
        var model = new ModelDescription
        {
            Name = "clipped", Flavor = ModelFlavor.Caffe,
            Input = new InputSpec { Width = 300, Height = 300, ChannelOrder = ChannelOrder.Bgr, Mean = [0f], Std = [1f], PixelRange = PixelRange.Byte, Resize = ResizeMethod.OpenCvLinear },
            Layers = [new ReluLayer { Name = "r", Inputs = ["data"], Outputs = ["y"] }],
            Outputs = new OutputSpec { Loc = "y", Conf = "y" },
            Priors = new PriorConfig { Style = ModelFlavor.Caffe, Maps = [new PriorSpec { Source = "y", MinSizes = [4f] }] },
            PostProcess = spec,
        };
        Assert.That(PostProcessorFactory.Rules(model).Clip);
        Assert.That(PostProcessorFactory.Rules(model with { PostProcess = spec with { Clip = false } }).Clip, Is.False);
        Assert.That(model.ToJson(), Does.Contain("\"clip\": true"));
        // The priors have a clip of their own; the post-processing's is written only when set.
        Assert.That(System.Text.Json.JsonSerializer.Serialize(spec with { Clip = false }, ModelDescription.JsonOptions), Does.Not.Contain("\"clip\""), "absent unless set");
        Assert.That(System.Text.Json.JsonSerializer.Serialize(spec, ModelDescription.JsonOptions), Does.Contain("\"clip\": true"));
        Assert.Throws<InvalidDataException>(() => (model with { PostProcess = spec with { Style = ModelFlavor.SsdPytorch } }).Validate());
    }
}
