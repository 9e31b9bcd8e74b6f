using Ssd.Engine.PostProcessing;
using Ssd.Kernels.Detect;
using Ssd.Weights.Model;

namespace Ssd.Tests.Detection;

/// <summary>Hand-made inputs whose answer is known without any implementation: nothing, all background, caps.</summary>
public class PostProcessEdgeCaseTests
{
    private const int P = 30, C = 3;

    /// <summary>30 disjoint priors in a row (normalised centre form), zero offsets: decoded boxes are the priors.</summary>
    private static float[] Center() => Enumerable.Range(0, P).SelectMany(i => new[] { (i + 0.5f) / P, 0.5f, 0.5f / P, 0.2f }).ToArray();

    private static PostProcessor[] All(float conf, int topK, int keepTopK)
    {
        var center = Center();
        var corners = new float[P * 8];
        for (int i = 0; i < P; i++)
        {
            corners[4 * i] = center[4 * i] - center[4 * i + 2] / 2; corners[4 * i + 1] = center[4 * i + 1] - center[4 * i + 3] / 2;
            corners[4 * i + 2] = center[4 * i] + center[4 * i + 2] / 2; corners[4 * i + 3] = center[4 * i + 1] + center[4 * i + 3] / 2;
            for (int k = 0; k < 4; k++) corners[4 * P + 4 * i + k] = k < 2 ? 0.1f : 0.2f;
        }
        var anchors = corners.Take(4 * P).Select(v => v * 300f).ToArray();
        var p = new PostProcessParams(C, 0, conf, 0.45f, topK, keepTopK, ConfIsProbability: true);
        return [HostPostProcessor.Of(ModelFlavor.Caffe, corners, p), HostPostProcessor.Of(ModelFlavor.SsdPytorch, center, p), HostPostProcessor.Of(ModelFlavor.Torchvision, anchors, p)];
    }

    private static float[] Scores(Func<int, int, float> f) => Enumerable.Range(0, P * C).Select(k => f(k / C, k % C)).ToArray();

    [Test]
    public void AllBackgroundGivesNoDetections()
    {
        var conf = Scores((_, c) => c == 0 ? 1f : 0f);
        foreach (var pp in All(0.01f, 200, 200))
            Assert.That(pp.Run(new float[P * 4], conf, [new ImageSize(100, 50)])[0], Is.Empty, pp.Rules.Decoder.ToString());
    }

    [Test]
    public void ScoresAtTheThresholdAreNotDetections()
    {
        var conf = Scores((_, c) => c == 0 ? 0.5f : 0.25f);
        foreach (var pp in All(0.25f, 200, 200))
            Assert.That(pp.Run(new float[P * 4], conf, [new ImageSize(100, 50)])[0], Is.Empty, pp.Rules.Decoder.ToString());
    }

    [Test]
    public void KeepTopKCapsTheImageAndTopKCapsEachClass()
    {
        // Every prior is a detection of class 1 (score 0.6 - i/100) and of class 2 (0.3 - i/1000); boxes are disjoint.
        var conf = Scores((i, c) => c == 1 ? 0.6f - i / 100f : c == 2 ? 0.3f - i / 1000f : 0.1f);
        var pps = All(0.01f, topK: 25, keepTopK: 40);
        var sizes = new[] { new ImageSize(600, 100) };
        foreach (var pp in pps)
        {
            var d = pp.Run(new float[P * 4], conf, sizes)[0];
            int expectedTotal = pp.Rules.Decoder == ModelFlavor.SsdPytorch ? 50 : 40; // ssd.pytorch has no cap over classes
            Assert.That(d, Has.Count.EqualTo(expectedTotal), pp.Rules.Decoder.ToString());
            Assert.That(d.Count(x => x.ClassId == 1), Is.EqualTo(25), pp.Rules.Decoder.ToString());
            Assert.That(d[0].ClassId, Is.EqualTo(1));
            Assert.That(d[0].Score, Is.EqualTo(0.6f));
            // Prior 0: x from 1/120 to 3/120 of the 600 px width, y from 0.4 to 0.6 of the 100 px height.
            Assert.That(new[] { d[0].X1, d[0].Y1, d[0].X2, d[0].Y2 }, Is.EqualTo(new[] { 5f, 40f, 15f, 60f }).Within(1e-3f), pp.Rules.Decoder.ToString());
        }
    }

    [Test]
    public void IdenticalBoxesOfOneClassCollapseButNotAcrossClasses()
    {
        var center = Enumerable.Range(0, P).SelectMany(_ => new[] { 0.5f, 0.5f, 0.2f, 0.2f }).ToArray();
        var p = new PostProcessParams(C, 0, 0.01f, 0.45f, 200, 200, true);
        var conf = Scores((i, c) => c == 0 ? 0.2f : 0.4f);
        var d = HostPostProcessor.Of(ModelFlavor.SsdPytorch, center, p).Run(new float[P * 4], conf, [new ImageSize(10, 10)])[0];
        Assert.That(d.Select(x => x.ClassId), Is.EquivalentTo(new[] { 1, 2 }));
    }

    [Test]
    public void BadShapesAreRejected()
    {
        var pp = All(0.01f, 10, 10)[0];
        Assert.Throws<ArgumentException>(() => pp.Run(new float[P * 4 - 1], new float[P * C], [new ImageSize(1, 1)]));
        Assert.Throws<ArgumentException>(() => pp.Run(new float[P * 4], new float[P * C + 1], [new ImageSize(1, 1)]));
        Assert.Throws<ArgumentException>(() => pp.Run(new float[P * 4], new float[P * C], []));
        Assert.Throws<ArgumentException>(() => HostPostProcessor.Of(ModelFlavor.Caffe, new float[7], new PostProcessParams(C, 0, 0.01f, 0.45f, 10, 10, true)));
        Assert.Throws<ArgumentException>(() => HostPostProcessor.Of(ModelFlavor.SsdPytorch, Center(), new PostProcessParams(1, 0, 0.01f, 0.45f, 10, 10, true)));
    }
}
