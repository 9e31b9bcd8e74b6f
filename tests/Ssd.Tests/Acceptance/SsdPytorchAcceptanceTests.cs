using Ssd.Weights.Model;
using static Ssd.Tests.Acceptance.PeerFixtures;
using static Ssd.Tests.Engine.NetworkFixtures;

namespace Ssd.Tests.Acceptance;

/// <summary>
/// Acceptance: ssd.pytorch's full-size SSD300 (VOC, 21 classes, seeded random weights) from a LEGACY .pth,
/// converted with TorchConverter and run by SsdDetector on the managed CPU backend on the real photo, against the
/// PyTorch reference of tools/fixtures/make_ssd_pytorch_acceptance.py: the pre-processed input, the six sources
/// and the heads within 1e-4 relative, the detections as a set (boxes within 0.01 px, scores within 1e-5).
/// The network runs once; the tests share it.
/// </summary>
public class SsdPytorchAcceptanceTests
{
    private const string Folder = "ssd_pytorch_ssd300", Script = "make_ssd_pytorch_acceptance.py";
    private static readonly string[] Sources = ["L2Norm", "vgg.34", "extras.1.relu", "extras.3.relu", "extras.5.relu", "extras.7.relu"];

    /// <summary>The network runs once (on first use); every test reads the same run.</summary>
    private static readonly Lazy<TorchPeerRun> run = new(() => TorchPeerRun.Load(Folder, Script, Sources, "ssd.pytorch ssd300"));

    private static TorchPeerRun Result() => run.Value;

    private static string File(string name) => Result().File(name);

    [Test]
    public void ConvertedModelIsSsdPytorchVoc()
    {
        var r = Result();
        Assert.That(r.Model.Flavor, Is.EqualTo(ModelFlavor.SsdPytorch));
        Assert.That(r.Model.PostProcess.NumClasses, Is.EqualTo(21));
    }

    [Test]
    public void PreprocessedInputMatchesTheDemoTransform() =>
        AssertRelative("input (cv2.resize 300x300, minus mean)", Result().Input, ReadFloats(File("input.bin")), 1e-6);

    [Test]
    public void SourcesAndHeadsMatchPytorch()
    {
        var r = Result();
        for (int k = 0; k < Sources.Length; k++)
            AssertRelative($"source {k} ({Sources[k]})", r.Output.Captured[Sources[k]], ReadFloats(File($"source{k}.bin")));
        var conf = ReadFloats(File("conf.bin"));
        AssertRelative("loc", r.Output.Loc, ReadFloats(File("loc.bin")));
        AssertRelative("conf logits", r.Output.Captured["mbox_conf"], conf);
        AssertRelative("softmax(conf)", r.Output.Conf, Softmax(conf, 21));
    }

    [Test]
    public void DetectionsMatchSsdPytorchDetect()
    {
        var r = Result();
        var expected = ReadDetections(r.Manifest.GetProperty("detections"));
        Assert.That(expected, Has.Length.GreaterThan(10), "the reference should find a few dozen detections");
        DetectionMatch.AssertSameSet("ssd.pytorch ssd300", expected, r.Detections, boxTolerance: 0.01f, scoreTolerance: 1e-5f,
            [r.Model.PostProcess.ConfidenceThreshold]);
    }
}
