using ILGPU.Runtime;
using Ssd.Engine.PostProcessing;
using Ssd.Kernels.BoxCoding;
using Ssd.Kernels.Core;
using Ssd.Kernels.Detect;
using Ssd.Weights.Model;

namespace Ssd.Tests.Detection;

/// <summary>
/// The device post-processing (<see cref="DevicePostProcessor"/>) against the host post-processors, detection for
/// detection (same set, order, classes, scores and boxes): small hand-shaped batches on the CPU simulator (ties,
/// scores equal to the threshold, empty classes, keep_top_k and top_k -1, torchvision's two batched_nms paths), and
/// SSD300-size dense batches on PoCL.
/// </summary>
public class DevicePostProcessTests
{
    private static readonly ImageSize Resized = new(300, 300);

    /// <summary>Priors in the three layouts from random, heavily overlapping normalised boxes.</summary>
    internal static (float[] Caffe, float[] Center, float[] Anchors) Priors(int p, Random rng)
    {
        var caffe = new float[8 * p];
        var center = new float[4 * p];
        var anchors = new float[4 * p];
        for (int i = 0; i < p; i++)
        {
            float cx = 0.2f + 0.6f * rng.NextSingle(), cy = 0.2f + 0.6f * rng.NextSingle(), w = 0.05f + 0.35f * rng.NextSingle(), h = 0.05f + 0.35f * rng.NextSingle();
            if (i % 5 == 4) (cx, cy, w, h) = (center[4 * i - 4], center[4 * i - 3], center[4 * i - 2], center[4 * i - 1]); // duplicated priors
            (center[4 * i], center[4 * i + 1], center[4 * i + 2], center[4 * i + 3]) = (cx, cy, w, h);
            float x1 = cx - w / 2, y1 = cy - h / 2, x2 = cx + w / 2, y2 = cy + h / 2;
            (caffe[4 * i], caffe[4 * i + 1], caffe[4 * i + 2], caffe[4 * i + 3]) = (x1, y1, x2, y2);
            for (int k = 0; k < 4; k++) caffe[4 * p + 4 * i + k] = k < 2 ? 0.1f : 0.2f;
            (anchors[4 * i], anchors[4 * i + 1], anchors[4 * i + 2], anchors[4 * i + 3]) = (x1 * 300f, y1 * 300f, x2 * 300f, y2 * 300f);
        }
        return (caffe, center, anchors);
    }

    internal static float[] PriorsOf(ModelFlavor style, (float[] Caffe, float[] Center, float[] Anchors) priors) =>
        style switch { ModelFlavor.Caffe => priors.Caffe, ModelFlavor.SsdPytorch => priors.Center, _ => priors.Anchors };

    internal static IPostProcessor Host(ModelFlavor style, float[] priors, PostProcessParams p) => HostPostProcessor.Of(style, priors, p);

    internal static IReadOnlyList<PostDetection>[] OnDevice(ComputeDevice device, ModelFlavor style, float[] priors, PostProcessParams p,
        float[] loc, float[] conf, IReadOnlyList<ImageSize> sizes)
    {
        var rules = PostProcessRules.For(style, p, null, Resized.Width, Resized.Height);
        using var post = new DevicePostProcessor(device, device.Accelerator.DefaultStream, rules, priors);
        using var l = device.Accelerator.Allocate1D(loc);
        using var c = device.Accelerator.Allocate1D(conf);
        return post.Run(l.View, c.View, sizes);
    }

    internal static void AssertSame(IReadOnlyList<PostDetection>[] expected, IReadOnlyList<PostDetection>[] got, bool expectSome = true)
    {
        Assert.That(got, Has.Length.EqualTo(expected.Length));
        for (int img = 0; img < expected.Length; img++)
        {
            if (expectSome) Assert.That(expected[img], Is.Not.Empty, $"image {img}: the case has detections");
            Assert.That(got[img], Has.Count.EqualTo(expected[img].Count), $"image {img}: detection count");
            for (int k = 0; k < expected[img].Count; k++)
                Assert.That(got[img][k], Is.EqualTo(expected[img][k]), $"image {img}, detection {k}");
        }
    }

    public enum Case { Ties, Logits, AtThreshold }

    /// <summary>
    /// Two images of P priors and 4 classes. Ties: probabilities from a few values, duplicated priors and offsets,
    /// class 2 empty in image 0, many scores exactly at the threshold. Logits: random logits (device softmax) and
    /// offsets. AtThreshold: every score of class 3 equals the threshold.
    /// </summary>
    private static (float[] Loc, float[] Conf) Inputs(Case kind, int p, int c, float threshold, Random rng)
    {
        var loc = new float[2 * p * 4];
        for (int i = 0; i < loc.Length; i++) loc[i] = 2f * rng.NextSingle() - 1f;
        for (int r = 1; r < 2 * p; r += 3) Array.Copy(loc, 4 * (r - 1), loc, 4 * r, 4);
        var conf = new float[2 * p * c];
        float[] levels = [threshold, 0.5f, 0.3f, threshold, 0.9f, 0.05f];
        for (int r = 0; r < 2 * p; r++)
            for (int k = 0; k < c; k++)
                conf[r * c + k] = kind switch
                {
                    Case.Logits => 3f * (rng.NextSingle() - 0.5f),
                    Case.AtThreshold => k == 3 ? threshold : rng.Next(4) == 0 ? rng.NextSingle() : 0f,
                    _ => k == 2 && r < p ? 0f : levels[rng.Next(levels.Length)],
                };
        return (loc, conf);
    }

    private static IEnumerable<TestCaseData> SmallCases()
    {
        foreach (var style in new[] { ModelFlavor.Caffe, ModelFlavor.SsdPytorch, ModelFlavor.Torchvision })
            foreach (var kind in new[] { Case.Ties, Case.Logits, Case.AtThreshold })
                yield return new TestCaseData(style, kind, 10, 7).SetName($"DeviceEqualsHost{style}{kind}");
        yield return new TestCaseData(ModelFlavor.Caffe, Case.Ties, -1, -1).SetName("DeviceEqualsHostCaffeTopKAndKeepTopKMinus1");
        yield return new TestCaseData(ModelFlavor.Caffe, Case.Logits, 6, -1).SetName("DeviceEqualsHostCaffeKeepTopKMinus1");
        yield return new TestCaseData(ModelFlavor.Torchvision, Case.Ties, 400, 0).SetName("DeviceEqualsHostTorchvisionNoCap");
    }

    [TestCaseSource(nameof(SmallCases))]
    public void SmallBatchOnCpuSim(ModelFlavor style, Case kind, int topK, int keepTopK)
    {
        const int P = 24, C = 4;
        const float threshold = 0.2f;
        var rng = new Random(17 + (int)kind);
        var priors = PriorsOf(style, Priors(P, rng));
        var (loc, conf) = Inputs(kind, P, C, threshold, rng);
        var p = new PostProcessParams(C, 0, threshold, 0.45f, topK, keepTopK, ConfIsProbability: kind != Case.Logits);
        ImageSize[] sizes = [new(640, 480), new(333, 517)];
        AssertSame(Host(style, priors, p).Run(loc, conf, sizes), OnDevice(TestDevices.CpuSim, style, priors, p, loc, conf, sizes));
    }

    [Test]
    public void NothingAboveTheThresholdGivesEmptyImages()
    {
        const int P = 8, C = 3;
        var rng = new Random(3);
        var priors = Priors(P, rng);
        var loc = new float[P * 4];
        var conf = Enumerable.Range(0, P * C).Select(k => k % C == 0 ? 1f : 0.01f).ToArray();
        var p = new PostProcessParams(C, 0, 0.01f, 0.45f, 5, 5, ConfIsProbability: true);
        foreach (var style in new[] { ModelFlavor.Caffe, ModelFlavor.SsdPytorch, ModelFlavor.Torchvision })
            Assert.That(OnDevice(TestDevices.CpuSim, style, PriorsOf(style, priors), p, loc, conf, [new(10, 10)])[0], Is.Empty, style.ToString());
    }

    /// <summary>
    /// torchvision's batched_nms: more than 1000 candidates run plain per-class NMS, at most 1000 the coordinate trick
    /// (shifted boxes). 360 priors x 3 classes, every score above the threshold: 1080 candidates; topk 330: 990.
    /// </summary>
    [TestCase(400, 1080), TestCase(330, 990)]
    public void TorchvisionBatchedNmsPathsOnCpuSim(int topK, int candidates)
    {
        const int P = 360, C = 4;
        var rng = new Random(11);
        var anchors = Priors(P, rng).Anchors;
        var loc = Enumerable.Range(0, P * 4).Select(_ => 2f * rng.NextSingle() - 1f).ToArray();
        var conf = Enumerable.Range(0, P * C).Select(k => 0.1f + 0.9f * rng.NextSingle()).ToArray();
        var p = new PostProcessParams(C, 0, 0.05f, 0.45f, topK, 200, ConfIsProbability: true);
        Assert.That((C - 1) * Math.Min(topK, P), Is.EqualTo(candidates), "the case's candidate count");
        ImageSize[] sizes = [new(500, 375)];
        AssertSame(Host(ModelFlavor.Torchvision, anchors, p).Run(loc, conf, sizes), OnDevice(TestDevices.CpuSim, ModelFlavor.Torchvision, anchors, p, loc, conf, sizes));
    }

    /// <summary>
    /// torchvision's coordinate trick shifts boxes by label * (max + 1) in float32, which rounds them; two boxes of
    /// class 3 are placed (scanning one's offset float by float) where that rounding flips the IoU test against
    /// the threshold, so that the device must reproduce the shift to agree with the host. With 340 more priors
    /// (small boxes far away, above the threshold in every class) the image has 1022 candidates: plain per-class NMS,
    /// and the device must NOT shift.
    /// </summary>
    [TestCase(0), TestCase(340)]
    public void TorchvisionCoordinateTrickRoundingIsReproduced(int extra)
    {
        const int C = 4, Label = 3;
        const float Threshold = 0.45f;
        float[] Decode(float[] anchor)
        {
            var box = new float[4];
            BoxCodingReference.TorchvisionBox(anchor, 0, new float[4], box);
            for (int k = 0; k < 4; k++) box[k] = Math.Clamp(box[k], 0f, 300f);
            return box;
        }
        bool Suppresses(float[] a, float[] b, float shift)
        {
            float ax1 = a[0] + shift, ay1 = a[1] + shift, ax2 = a[2] + shift, ay2 = a[3] + shift;
            float bx1 = b[0] + shift, by1 = b[1] + shift, bx2 = b[2] + shift, by2 = b[3] + shift;
            float w = MathF.Max(0f, MathF.Min(ax2, bx2) - MathF.Max(ax1, bx1)), h = MathF.Max(0f, MathF.Min(ay2, by2) - MathF.Max(ay1, by1));
            float inter = w * h;
            return inter / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter) > Threshold;
        }
        float[] first = [40f, 50f, 140f, 170f];
        var a = Decode(first);
        float critical = 100f * (1 - Threshold) / (1 + Threshold);
        float[]? second = null;
        for (int k = 0; k < 20000 && second is null; k++)
        {
            float d = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(critical) + (k % 2 == 0 ? k / 2 : -(k / 2)));
            float[] candidate = [40f + d, 50f, 140f + d, 170f];
            var b = Decode(candidate);
            float max = new[] { a, b }.SelectMany(x => x).Max();
            if (Suppresses(a, b, 0f) != Suppresses(a, b, Label * (max + 1f))) second = candidate;
        }
        Assert.That(second, Is.Not.Null, "found boxes whose suppression the shift's rounding decides");
        var anchors = new List<float>([.. first, .. second!]);
        var conf = new List<float> { 0.1f, 0f, 0f, 0.9f, 0.2f, 0f, 0f, 0.8f };
        for (int i = 0; i < extra; i++)
        {
            float x = i % 10 * 3f, y = i / 10 % 10 * 3f;
            anchors.AddRange([x, y, x + 2f, y + 2f]);
            conf.AddRange([0.1f, 0.3f, 0.3f, 0.3f]);
        }
        var loc = new float[anchors.Count];
        var p = new PostProcessParams(C, 0, 0.05f, Threshold, 400, 200, ConfIsProbability: true);
        ImageSize[] sizes = [new(300, 300)];
        var expected = Host(ModelFlavor.Torchvision, [.. anchors], p).Run(loc, [.. conf], sizes);
        AssertSame(expected, OnDevice(TestDevices.CpuSim, ModelFlavor.Torchvision, [.. anchors], p, loc, [.. conf], sizes));
    }

    /// <summary>
    /// SSD300 sizes on every test device (PoCL; CUDA when the run asks for it): 8732 priors, 21 classes (91 for
    /// torchvision), two images: dense heads (thousands of candidates), a few hundred (torchvision's coordinate trick),
    /// exact ties, and overflowing / NaN / zero-size boxes. Bit-identical to the host, or on CUDA the FMA-contraction
    /// difference measured and bounded (<see cref="DeviceHostDifference"/>).
    /// </summary>
    public static IEnumerable<TestCaseData> RealSizeCases() =>
        from device in TestDevices.DeviceNames
        from c in new (ModelFlavor Style, PostProcessFastTests.Kind Kind, int KeepTopK)[]
        {
            (ModelFlavor.Caffe, PostProcessFastTests.Kind.Thousands, 200), (ModelFlavor.Caffe, PostProcessFastTests.Kind.Ties, -1),
            (ModelFlavor.SsdPytorch, PostProcessFastTests.Kind.Thousands, 0), (ModelFlavor.SsdPytorch, PostProcessFastTests.Kind.Ties, 0),
            (ModelFlavor.Torchvision, PostProcessFastTests.Kind.Thousands, 200), (ModelFlavor.Torchvision, PostProcessFastTests.Kind.Hundreds, 200),
            (ModelFlavor.Torchvision, PostProcessFastTests.Kind.Extreme, 200), (ModelFlavor.Caffe, PostProcessFastTests.Kind.Extreme, 200),
            (ModelFlavor.SsdPytorch, PostProcessFastTests.Kind.Extreme, 0),
        }
        select new TestCaseData(device, c.Style, c.Kind, c.KeepTopK);

    [TestCaseSource(nameof(RealSizeCases))]
    public void RealSizeOnDevice(string deviceName, ModelFlavor style, PostProcessFastTests.Kind kind, int keepTopK)
    {
        var device = TestDevices.Device(deviceName);
        int classes = style == ModelFlavor.Torchvision ? 91 : 21;
        var x = PostProcessFastTests.Input(kind, classes);
        var priors = style switch { ModelFlavor.Caffe => x.Caffe, ModelFlavor.SsdPytorch => x.Center, _ => x.Anchors };
        bool probabilities = style == ModelFlavor.Caffe; // Caffe graphs end in a softmax; the others give logits
        var conf = probabilities ? x.Probs : x.Logits;
        var p = new PostProcessParams(classes, 0, 0.01f, 0.45f, style == ModelFlavor.SsdPytorch ? 200 : 400, keepTopK, probabilities);
        var sizes = PostProcessFastTests.Sizes;
        var host = Host(style, priors, p).Run(x.Loc, conf, sizes);
        Assert.That(host, Has.All.Not.Empty, "every image of the case has detections");
        DeviceHostDifference.AssertSame($"{style} {kind} keep_top_k {keepTopK}", deviceName, host, OnDevice(device, style, priors, p, x.Loc, conf, sizes));
    }
}
