using Ssd.Weights.Model;
using static Ssd.Tests.Acceptance.PeerFixtures;
using static Ssd.Tests.Engine.NetworkFixtures;

namespace Ssd.Tests.Acceptance;

/// <summary>
/// Acceptance: torchvision's full-size ssd300_vgg16 (91 classes, seeded random weights, state_dict zip) converted
/// with TorchConverter and run by SsdDetector on the managed CPU backend on the real photo, against torchvision 0.14
/// (tools/fixtures/make_torchvision_acceptance.py): the pre-processed input, the six source feature maps and the
/// heads within 1e-4 relative (NetworkFixtures.MaxRelativeError), the detections as a set (boxes within 0.01 px,
/// scores within 1e-5) except where a score sits on a cut-off. The network runs once; the tests share it.
/// </summary>
public class TorchvisionAcceptanceTests
{
    private const string Folder = "torchvision_ssd300", Script = "make_torchvision_acceptance.py";
    private static readonly string[] Sources =
        ["backbone.scale_weight", "backbone.extra.0.7.4", "backbone.extra.1.3", "backbone.extra.2.3", "backbone.extra.3.3", "backbone.extra.4.3"];

    /// <summary>The network runs once (on first use); every test reads the same run.</summary>
    private static readonly Lazy<TorchPeerRun> run = new(() => TorchPeerRun.Load(Folder, Script, Sources, "torchvision ssd300"));

    private static TorchPeerRun Result() => run.Value;

    private static string File(string name) => Result().File(name);

    [Test]
    public void ConvertedModelIsTorchvisionSsd300With91Classes()
    {
        var r = Result();
        Assert.That(r.Model.Flavor, Is.EqualTo(ModelFlavor.Torchvision));
        Assert.That(r.Model.PostProcess.NumClasses, Is.EqualTo(91));
        Assert.That((r.Model.Input.Width, r.Model.Input.Height), Is.EqualTo((300, 300)));
    }

    [Test]
    public void PreprocessedInputMatchesTorchvisionTransform()
    {
        var r = Result();
        var expected = ReadFloats(File("input.bin"));
        double worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(r.Input[i] - expected[i]));
        TestContext.Out.WriteLine($"input (normalise + bilinear resize to 300x300): max abs difference {worst:G3}");
        // Not bit-exact on this photo: values up to ~150 differ by a few ulps (3e-5 measured), within 1e-5 relative.
        AssertRelative("input", r.Input, expected, 1e-5);
    }

    [Test]
    public void FeatureMapsAndHeadsMatchTorchvision()
    {
        var r = Result();
        for (int k = 0; k < Sources.Length; k++)
            AssertRelative($"source {k} ({Sources[k]})", r.Output.Captured[Sources[k]], ReadFloats(File($"source{k}.bin")));
        var logits = ReadFloats(File("cls_logits.bin"));
        AssertRelative("bbox_regression", r.Output.Loc, ReadFloats(File("bbox_regression.bin")));
        AssertRelative("cls_logits", r.Output.Captured["mbox_conf"], logits);
        AssertRelative("softmax(cls_logits)", r.Output.Conf, Softmax(logits, 91));
    }

    [Test]
    public void DetectionsMatchTorchvision()
    {
        var r = Result();
        var expected = ReadDetections(r.Manifest.GetProperty("detections"));
        Assert.That(expected, Has.Length.GreaterThan(10), "the reference should find a few dozen detections");
        var spec = r.Model.PostProcess;
        var cutoffs = spec.KeepTopK > 0 && expected.Length >= spec.KeepTopK
            ? new[] { spec.ConfidenceThreshold, expected.Min(d => d.Score) } : [spec.ConfidenceThreshold];
        DetectionMatch.AssertSameSet("torchvision ssd300", expected, r.Detections, boxTolerance: 0.01f, scoreTolerance: 1e-5f, cutoffs);
    }
}
