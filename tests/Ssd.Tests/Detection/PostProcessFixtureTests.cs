using Ssd.Engine.PostProcessing;
using Ssd.Kernels.Detect;
using Ssd.Weights.Model;

namespace Ssd.Tests.Detection;

/// <summary>Each flavour against the detections its real implementation produced on the same loc / conf.</summary>
public class PostProcessFixtureTests
{
    private static PostProcessFixture F => PostProcessFixture.Load();

    private static PostProcessParams Params(PostProcessFixture.Case c, bool probability) =>
        new(F.Classes, 0, c.Confidence, c.Nms, c.TopK, c.KeepTopK, probability);

    [TestCase("caffe-voc"), TestCase("caffe-tight"), TestCase("caffe-nokeep")]
    public void CaffeMatchesOpenCvDetectionOutput(string name)
    {
        var c = F.Cases[name];
        var pp = HostPostProcessor.Of(ModelFlavor.Caffe, F.CaffePriors, Params(c, probability: true));
        var normalised = Enumerable.Repeat(ImageSize.Normalised, F.Images).ToArray();
        DetectionAssert.SameSet(c.Expected, pp.Run(F.Loc, F.Probs, normalised), 1e-4f, threshold: c.Confidence);
    }

    [TestCase("ssdpytorch-voc"), TestCase("ssdpytorch-tight")]
    public void SsdPytorchMatchesDetect(string name)
    {
        var c = F.Cases[name];
        var pp = HostPostProcessor.Of(ModelFlavor.SsdPytorch, F.CenterPriors, Params(c, probability: false));
        DetectionAssert.SameSet(c.Expected, pp.Run(F.Loc, F.Logits, F.Sizes), 0.01f, threshold: c.Confidence);
    }

    [TestCase("torchvision-voc"), TestCase("torchvision-tight"), TestCase("torchvision-vanilla")]
    public void TorchvisionMatchesPostprocessDetections(string name)
    {
        var c = F.Cases[name];
        var pp = HostPostProcessor.Of(ModelFlavor.Torchvision, F.Anchors, Params(c, probability: false));
        var got = pp.Run(F.Loc, F.Logits, F.Sizes);
        DetectionAssert.SameSet(c.Expected, got, 0.01f, threshold: c.Confidence);
        // torchvision's order is its output order: best first (ties in the fixture are identical detections).
        for (int img = 0; img < F.Images; img++)
        {
            var scores = c.Expected.Where(r => (int)r[0] == img).Select(r => r[2]).ToArray();
            Assert.That(got[img].Select(d => d.Score).ToArray(), Is.EqualTo(scores).Within(1e-5f));
        }
    }

    [Test]
    public void FixtureHasTiesAndEnoughDetections()
    {
        foreach (var c in F.Cases.Values)
            Assert.That(c.Expected.Length, Is.InRange(20, 500), c.Name);
        var voc = F.Cases["caffe-voc"].Expected;
        Assert.That(voc.GroupBy(r => (r[0], r[1], r[2])).Any(g => g.Count() > 1), "an exact score tie survives NMS");
    }
}
