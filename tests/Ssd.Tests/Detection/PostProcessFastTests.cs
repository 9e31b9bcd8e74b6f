using Ssd.Engine.PostProcessing;
using Ssd.Engine.PostProcessing.Reference;
using Ssd.Kernels.Detect;
using Ssd.Kernels.Priors;
using Ssd.Kernels.Softmax;
using Ssd.Weights.Model;

namespace Ssd.Tests.Detection;

/// <summary>
/// The fast post-processors against their plain references, bit for bit, on dense SSD300-size inputs (8732 priors,
/// 91 classes, two images): thousands of candidates (torchvision's per-class NMS path), a few hundred (its
/// coordinate-trick path), a saturated head where top-k caps every class, and duplicated rows that make exact ties.
/// </summary>
public class PostProcessFastTests
{
    private const int Classes = 91;

    public enum Kind { Thousands, Hundreds, Saturated, Ties, Extreme }

    internal static readonly ImageSize[] Sizes = [new(640, 480), new(300, 500)];

    /// <summary>SSD300 priors in the three layouts and two images of head outputs of the given kind (also used by the device post-processing tests).</summary>
    internal static (float[] Anchors, float[] Caffe, float[] Center, float[] Loc, float[] Logits, float[] Probs) Input(Kind kind, int classes = Classes)
    {
        var grids = TorchvisionPriorConfig.Ssd300Grids.Select(g => (g, g)).ToArray();
        var anchors = PriorReference.Torchvision(TorchvisionPriorConfig.Ssd300, grids, 300, 300);
        int p = anchors.Length / 4, images = Sizes.Length;
        var (caffe, center) = Layouts(anchors);
        var rng = new Random(5 + (int)kind);
        float Normal() => MathF.Sqrt(-2f * MathF.Log(1f - rng.NextSingle())) * MathF.Cos(2f * MathF.PI * rng.NextSingle());
        var loc = new float[images * 4 * p];
        for (int i = 0; i < loc.Length; i++) loc[i] = Normal();
        var logits = new float[images * p * classes];
        for (int r = 0; r < images * p; r++)
        for (int c = 0; c < classes; c++)
            logits[r * classes + c] = kind switch
            {
                Kind.Saturated => 0.1f * Normal(),
                Kind.Hundreds => c == 0 ? 8f : Normal(),
                Kind.Ties => c == 0 ? 7f : MathF.Round(2f * Normal()) / 2f,
                _ => c == 0 ? 7f : Normal(),
            };
        if (kind == Kind.Ties)
            // Every row is one of 64 rows, and neighbouring priors share their offsets: many equal scores and boxes.
            for (int r = 0; r < images * p; r++)
            {
                Array.Copy(logits, (r % 64) * classes, logits, r * classes, classes);
                if (r % 2 == 1) Array.Copy(loc, 4 * (r - 1), loc, 4 * r, 4);
            }
        if (kind == Kind.Extreme)
            // Offsets that overflow exp (infinite boxes), NaN offsets and zero-size boxes (0 / 0 IoU).
            for (int r = 0; r < images * p; r++)
            {
                if (r % 7 == 0) loc[4 * r + 2] = 1000f;
                if (r % 11 == 0) loc[4 * r + 1] = float.NaN;
                if (r % 13 == 0) loc[4 * r + 3] = -1000f;
            }
        var probs = new float[logits.Length];
        SoftmaxReference.Rows(images * p, classes, logits, probs);
        return (anchors, caffe, center, loc, logits, probs);
    }

    /// <summary>torchvision anchors (xyxy pixels of 300 x 300) in Caffe's layout (normalised corners, then variances) and ssd.pytorch's (centre form).</summary>
    internal static (float[] Caffe, float[] Center) Layouts(float[] anchors)
    {
        int p = anchors.Length / 4;
        var caffe = new float[8 * p];
        var center = new float[4 * p];
        for (int i = 0; i < p; i++)
        {
            float x1 = anchors[4 * i] / 300f, y1 = anchors[4 * i + 1] / 300f, x2 = anchors[4 * i + 2] / 300f, y2 = anchors[4 * i + 3] / 300f;
            (caffe[4 * i], caffe[4 * i + 1], caffe[4 * i + 2], caffe[4 * i + 3]) = (x1, y1, x2, y2);
            (caffe[4 * p + 4 * i], caffe[4 * p + 4 * i + 1], caffe[4 * p + 4 * i + 2], caffe[4 * p + 4 * i + 3]) = (0.1f, 0.1f, 0.2f, 0.2f);
            (center[4 * i], center[4 * i + 1], center[4 * i + 2], center[4 * i + 3]) = ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1);
        }
        return (caffe, center);
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

    [TestCase(Kind.Thousands), TestCase(Kind.Hundreds), TestCase(Kind.Saturated), TestCase(Kind.Ties), TestCase(Kind.Extreme)]
    public void TorchvisionEqualsReference(Kind kind)
    {
        var x = Input(kind);
        var p = new PostProcessParams(Classes, 0, 0.01f, 0.45f, 400, 200, ConfIsProbability: false);
        AssertSame(new TorchvisionPostprocessReference(x.Anchors, new ImageSize(300, 300), p).Run(x.Loc, x.Logits, Sizes),
            HostPostProcessor.Of(ModelFlavor.Torchvision, x.Anchors, p).Run(x.Loc, x.Logits, Sizes));
    }

    [TestCase(Kind.Thousands, 200), TestCase(Kind.Hundreds, 200), TestCase(Kind.Saturated, 200), TestCase(Kind.Ties, 200), TestCase(Kind.Ties, -1), TestCase(Kind.Extreme, 200)]
    [TestCase(Kind.Extreme, 200, 21), TestCase(Kind.Thousands, 200, 21)]
    public void CaffeEqualsReference(Kind kind, int keepTopK, int classes = Classes)
    {
        var x = Input(kind, classes);
        var p = new PostProcessParams(classes, 0, 0.01f, 0.45f, 400, keepTopK, ConfIsProbability: true);
        AssertSame(new CaffeDetectionOutputReference(x.Caffe, p).Run(x.Loc, x.Probs, Sizes),
            HostPostProcessor.Of(ModelFlavor.Caffe, x.Caffe, p).Run(x.Loc, x.Probs, Sizes));
    }

    [TestCase(Kind.Thousands), TestCase(Kind.Hundreds), TestCase(Kind.Saturated), TestCase(Kind.Ties), TestCase(Kind.Extreme)]
    public void SsdPytorchEqualsReference(Kind kind)
    {
        var x = Input(kind);
        var p = new PostProcessParams(Classes, 0, 0.01f, 0.45f, 200, 0, ConfIsProbability: false);
        AssertSame(new SsdPytorchDetectReference(x.Center, p).Run(x.Loc, x.Logits, Sizes),
            HostPostProcessor.Of(ModelFlavor.SsdPytorch, x.Center, p).Run(x.Loc, x.Logits, Sizes));
    }
}
