using Ssd.Engine.PostProcessing;
using Ssd.Engine.PostProcessing.Reference;
using Ssd.Kernels.Detect;
using Ssd.Kernels.Priors;
using Ssd.Kernels.Softmax;
using Ssd.Weights.Model;

namespace Ssd.Tests.Detection;

/// <summary>
/// The fast post-processors against their references when nearly every score passes the threshold, aimed at the
/// dense path's top-k selection (a sampled bound, a histogram, the exact k-th score, its ties) and the parallel
/// per-class merge: every score equal (top-k decided by the tie order alone), scores on a coarse grid (large tie
/// groups at the k-th score), both zeros at a threshold of 0, top-k caps of every size relative to the candidates,
/// and no cap at all.
/// </summary>
public class PostProcessSaturatedTests
{
    public enum Scores { AllEqual, Grid, Spread }

    private static readonly ImageSize[] Sizes = [new(640, 480), new(300, 500)];

    private static float[] Anchors()
    {
        var grids = TorchvisionPriorConfig.Ssd300Grids.Select(g => (g, g)).ToArray();
        return PriorReference.Torchvision(TorchvisionPriorConfig.Ssd300, grids, 300, 300);
    }

    /// <summary>Logits for every prior of two images: all 0, on a 1/4 grid, or N(0, 0.1).</summary>
    private static (float[] Loc, float[] Logits, float[] Probs) Heads(int priors, int classes, Scores kind, int seed)
    {
        var rng = new Random(seed);
        float Normal() => MathF.Sqrt(-2f * MathF.Log(1f - rng.NextSingle())) * MathF.Cos(2f * MathF.PI * rng.NextSingle());
        int rows = Sizes.Length * priors;
        var loc = new float[4 * rows];
        for (int i = 0; i < loc.Length; i++) loc[i] = Normal();
        var logits = new float[rows * classes];
        for (int i = 0; i < logits.Length; i++)
            logits[i] = kind switch { Scores.AllEqual => 0f, Scores.Grid => MathF.Round(Normal() * 2f) / 8f, _ => 0.1f * Normal() };
        var probs = new float[logits.Length];
        SoftmaxReference.Rows(rows, classes, logits, probs);
        return (loc, logits, probs);
    }

    private static void AssertSame(IReadOnlyList<PostDetection>[] expected, IReadOnlyList<PostDetection>[] got)
    {
        Assert.That(got, Has.Length.EqualTo(expected.Length));
        for (int img = 0; img < expected.Length; img++)
        {
            Assert.That(expected[img], Is.Not.Empty, "the case has detections");
            Assert.That(got[img], Is.EqualTo(expected[img]), $"image {img}");
        }
    }

    // top_k 50 and 200 take the sampled bound (8732 priors >= 16 k), 1000 the full histogram.
    private static IEnumerable<TestCaseData> Cases =>
        from kind in Enum.GetValues<Scores>() from topK in new[] { 50, 200, 1000 } select new TestCaseData(kind, topK);

    [TestCaseSource(nameof(Cases))]
    public void TorchvisionSaturatedEqualsReference(Scores kind, int topK)
    {
        var anchors = Anchors();
        var (loc, logits, _) = Heads(anchors.Length / 4, 21, kind, 70 + topK);
        var p = new PostProcessParams(21, 0, 0.01f, 0.45f, topK, 200, ConfIsProbability: false);
        AssertSame(new TorchvisionPostprocessReference(anchors, new ImageSize(300, 300), p).Run(loc, logits, Sizes),
            HostPostProcessor.Of(ModelFlavor.Torchvision, anchors, p).Run(loc, logits, Sizes));
    }

    [TestCaseSource(nameof(Cases))]
    public void CaffeSaturatedEqualsReference(Scores kind, int topK)
    {
        var anchors = Anchors();
        var (caffe, _) = PostProcessFastTests.Layouts(anchors);
        var (loc, _, probs) = Heads(anchors.Length / 4, 21, kind, 80 + topK);
        var p = new PostProcessParams(21, 0, 0.01f, 0.45f, topK, 200, ConfIsProbability: true);
        AssertSame(new CaffeDetectionOutputReference(caffe, p).Run(loc, probs, Sizes), HostPostProcessor.Of(ModelFlavor.Caffe, caffe, p).Run(loc, probs, Sizes));
    }

    [TestCaseSource(nameof(Cases))]
    public void SsdPytorchSaturatedEqualsReference(Scores kind, int topK)
    {
        var anchors = Anchors();
        var (_, center) = PostProcessFastTests.Layouts(anchors);
        var (loc, logits, _) = Heads(anchors.Length / 4, 21, kind, 90 + topK);
        var p = new PostProcessParams(21, 0, 0.01f, 0.45f, topK, 0, ConfIsProbability: false);
        AssertSame(new SsdPytorchDetectReference(center, p).Run(loc, logits, Sizes), HostPostProcessor.Of(ModelFlavor.SsdPytorch, center, p).Run(loc, logits, Sizes));
    }

    /// <summary>
    /// Caffe given raw scores on a 1/32 grid with -0 and +0 among them, threshold 0 (so zeros do not pass, and -0 and
    /// +0 must tie), no top_k and no keep_top_k: every candidate of a class goes through NMS. Few priors keep the
    /// reference's quadratic NMS quick.
    /// </summary>
    [Test]
    public void CaffeWithoutCapsOnGridScoresEqualsReference()
    {
        const int priors = 1200, classes = 4;
        var rng = new Random(17);
        var caffe = new float[8 * priors];
        for (int i = 0; i < priors; i++)
        {
            float cx = rng.NextSingle(), cy = rng.NextSingle(), w = 0.05f + 0.3f * rng.NextSingle(), h = 0.05f + 0.3f * rng.NextSingle();
            (caffe[4 * i], caffe[4 * i + 1], caffe[4 * i + 2], caffe[4 * i + 3]) = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2);
            for (int v = 0; v < 4; v++) caffe[4 * priors + 4 * i + v] = v < 2 ? 0.1f : 0.2f;
        }
        var loc = new float[Sizes.Length * 4 * priors];
        for (int i = 0; i < loc.Length; i++) loc[i] = 2f * rng.NextSingle() - 1f;
        var scores = new float[Sizes.Length * priors * classes];
        for (int i = 0; i < scores.Length; i++)
            scores[i] = rng.Next(8) switch { 0 => 0f, 1 => -0f, _ => rng.Next(33) / 32f };
        foreach (var (topK, keepTopK) in new[] { (-1, -1), (700, 300), (1199, -1) })
        {
            var p = new PostProcessParams(classes, 0, 0f, 0.45f, topK, keepTopK, ConfIsProbability: true);
            AssertSame(new CaffeDetectionOutputReference(caffe, p).Run(loc, scores, Sizes), HostPostProcessor.Of(ModelFlavor.Caffe, caffe, p).Run(loc, scores, Sizes));
        }
    }
}
