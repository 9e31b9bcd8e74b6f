using ILGPU;
using ILGPU.Runtime;
using Ssd.Engine.PostProcessing;
using Ssd.Engine.PostProcessing.Reference;
using Ssd.Kernels.BoxCoding;
using Ssd.Kernels.Core;
using Ssd.Kernels.Detect;
using Ssd.Kernels.Softmax;
using Ssd.Weights.Model;

namespace Ssd.Tests.Kernels;

/// <summary>
/// The device post-processing's stages: the exp against MathF.Exp, the decode (+ clip) and softmax kernels against
/// BoxCodingReference / SoftmaxReference, the sort key order, and the ranking + NMS + merge against the flavours'
/// references; all bit for bit.
/// </summary>
public class DetectKernelTests
{
    private static void AssertBits(float[] expected, float[] actual, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), what);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]) && !(float.IsNaN(expected[i]) && float.IsNaN(actual[i])))
                Assert.Fail($"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R}");
    }

    [Test]
    public void LibmExpIsMathFExp()
    {
        var rng = new Random(1);
        var xs = new List<float> { 0f, -0f, 1f, -1f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 88f, -88f, 88.72283f, 88.72284f,
            -103.97207f, -103.97208f, -87.33655f, -100f, 1e-30f, -1e-30f, float.Epsilon, float.MaxValue, float.MinValue };
        for (int i = 0; i < 3_000_000; i++)
            xs.Add(i % 3 == 0 ? (float)(rng.NextDouble() * 220 - 110) : i % 3 == 1 ? (float)(rng.NextDouble() * 4 - 2) : BitConverter.Int32BitsToSingle(rng.Next()));
        int bad = 0;
        string first = "";
        foreach (float x in xs)
        {
            float expected = MathF.Exp(x), actual = LibmExp.Expf(x);
            if (BitConverter.SingleToInt32Bits(expected) != BitConverter.SingleToInt32Bits(actual) && !(float.IsNaN(expected) && float.IsNaN(actual)))
            {
                if (bad++ == 0) first = $"exp({x:R}) = {expected:R}, LibmExp gives {actual:R}";
            }
        }
        Assert.That(bad, Is.Zero, first);
    }

    [Test]
    public void NetMathIsMathFMinAndMax()
    {
        float[] v = [0f, -0f, 1f, -1f, float.NaN, -float.NaN, float.PositiveInfinity, float.NegativeInfinity, 2.5f];
        foreach (float x in v)
            foreach (float y in v)
            {
                AssertBits([MathF.Min(x, y)], [NetMath.Min(x, y)], $"min({x}, {y})");
                AssertBits([MathF.Max(x, y)], [NetMath.Max(x, y)], $"max({x}, {y})");
            }
    }

    private static (float[] Caffe, float[] Center, float[] Anchors, float[] Loc) Boxes(int p, int images, int seed)
    {
        var rng = new Random(seed);
        var caffe = new float[8 * p];
        var center = new float[4 * p];
        var anchors = new float[4 * p];
        for (int i = 0; i < p; i++)
        {
            float cx = rng.NextSingle(), cy = rng.NextSingle(), w = 0.02f + 0.5f * rng.NextSingle(), h = 0.02f + 0.5f * rng.NextSingle();
            (center[4 * i], center[4 * i + 1], center[4 * i + 2], center[4 * i + 3]) = (cx, cy, w, h);
            (caffe[4 * i], caffe[4 * i + 1], caffe[4 * i + 2], caffe[4 * i + 3]) = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2);
            for (int k = 0; k < 4; k++) caffe[4 * p + 4 * i + k] = k < 2 ? 0.1f : 0.2f;
            for (int k = 0; k < 4; k++) anchors[4 * i + k] = caffe[4 * i + k] * 300f;
        }
        var loc = new float[images * p * 4];
        for (int i = 0; i < loc.Length; i++) loc[i] = 4f * rng.NextSingle() - 2f;
        loc[2] = 1000f; loc[7] = float.NaN; loc[11] = -1000f; // an infinite box, a NaN one, a zero-size one
        return (caffe, center, anchors, loc);
    }

    [TestCaseSource(typeof(TestDevices), nameof(TestDevices.Backends))]
    public void DecodeKernelsEqualBoxCodingReference(BackendKind backend)
    {
        var device = TestDevices.Get(backend);
        const int P = 50, N = 2;
        var (caffe, center, anchors, loc) = Boxes(P, N, 7);
        var a = device.Accelerator;
        using var l = a.Allocate1D(loc);
        using var o = a.Allocate1D<float>(loc.Length);
        var expected = new float[loc.Length];

        using (var pr = a.Allocate1D(caffe))
        {
            device.Kernel("boxcoding.caffe.1", x => x.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(BoxCodingKernels.DecodeCaffe1))(
                a.DefaultStream, N * P, pr.View, l.View, o.View, P);
            BoxCodingReference.Caffe(caffe, loc, expected);
            AssertBits(expected, o.GetAsArray1D(), "caffe");
        }
        using (var pr = a.Allocate1D(center))
        {
            device.Kernel("boxcoding.ssdpytorch.1", x => x.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float>(BoxCodingKernels.DecodeSsdPytorch1))(
                a.DefaultStream, N * P, pr.View, l.View, o.View, P, 0.1f, 0.2f);
            BoxCodingReference.SsdPytorch(center, loc, expected, 0.1f, 0.2f);
            AssertBits(expected, o.GetAsArray1D(), "ssd.pytorch");
        }
        using (var pr = a.Allocate1D(anchors))
        {
            device.Kernel("boxcoding.torchvision.1", x => x.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, DecodeWeights>(BoxCodingKernels.DecodeTorchvision1))(
                a.DefaultStream, N * P, pr.View, l.View, o.View, P, DecodeWeights.Ssd);
            device.Kernel("boxcoding.clip.1", x => x.LoadAutoGroupedKernel<Index1D, ArrayView<float>, float, float>(BoxCodingKernels.Clip1))(
                a.DefaultStream, 4 * N * P, o.View, 300f, 200f);
            BoxCodingReference.Torchvision(anchors, loc, expected);
            for (int i = 0; i < expected.Length; i++) expected[i] = Math.Clamp(expected[i], 0f, i % 2 == 0 ? 300f : 200f);
            AssertBits(expected, o.GetAsArray1D(), "torchvision");
        }
    }

    [TestCaseSource(typeof(TestDevices), nameof(TestDevices.Backends))]
    public void SoftmaxRowsEqualsSoftmaxReference(BackendKind backend)
    {
        var device = TestDevices.Get(backend);
        const int Rows = 300, C = 21;
        var x = TestData.Uniform(3, Rows * C, -8f, 8f);
        x[5] = 90f; // one very confident row
        var expected = new float[x.Length];
        SoftmaxReference.Rows(Rows, C, x, expected);
        using var xb = device.Accelerator.Allocate1D(x);
        using var yb = device.Accelerator.Allocate1D<float>(x.Length);
        new SoftmaxOp(device).Rows(Rows, C, xb.View, yb.View);
        AssertBits(expected, yb.GetAsArray1D(), "softmax");
    }

    [Test]
    public void KeysOrderByHighPartThenBestScoreThenItem()
    {
        var rng = new Random(4);
        const int Bits = 6;
        float[] scores = [0.5f, 0.25f, -0f, 0f, 1f, float.PositiveInfinity, -3f];
        var items = Enumerable.Range(0, 200).Select(_ => (High: rng.Next(3), Score: scores[rng.Next(scores.Length)], Item: rng.Next(64), Excluded: rng.Next(5) == 0)).ToList();
        var keys = items.Select(t => t.Excluded ? DetectKey.MakeExcluded(t.High, t.Item, Bits) : DetectKey.Make(t.High, t.Score, t.Item, Bits)).ToList();
        var byKey = Enumerable.Range(0, items.Count).OrderBy(i => keys[i]).ToList();
        var expected = Enumerable.Range(0, items.Count).OrderBy(i => items[i].High).ThenBy(i => items[i].Excluded)
            .ThenByDescending(i => items[i].Excluded ? 0f : items[i].Score).ThenBy(i => items[i].Item).ToList();
        for (int k = 0; k < items.Count; k++)
        {
            var (e, g) = (items[expected[k]], items[byKey[k]]);
            Assert.That((g.High, g.Excluded, g.Excluded ? 0f : g.Score, g.Item), Is.EqualTo((e.High, e.Excluded, e.Excluded ? 0f : e.Score, e.Item)), $"position {k}");
            if (!g.Excluded) Assert.That(DetectKey.Score(keys[byKey[k]], Bits), Is.EqualTo(g.Score));
        }
    }

    /// <summary>
    /// Ranking, NMS and merge on the CPU simulator, every flavour, against the flavour's reference: tied scores,
    /// duplicated boxes, torchvision with the coordinate trick (few candidates). The boxes are the priors (zero
    /// offsets), so the decode barely matters.
    /// </summary>
    [TestCase(ModelFlavor.Caffe, 5, 12), TestCase(ModelFlavor.Caffe, -1, -1), TestCase(ModelFlavor.SsdPytorch, 6, 0),
     TestCase(ModelFlavor.Torchvision, 8, 10), TestCase(ModelFlavor.Torchvision, 8, 0)]
    public void DetectionOutputEqualsReference(ModelFlavor flavor, int topK, int keepTopK)
    {
        var device = TestDevices.CpuSim;
        const int P = 20, C = 4, N = 2;
        var rng = new Random(9 + (int)flavor);
        var caffe = new float[8 * P];
        var center = new float[4 * P];
        for (int i = 0; i < P; i++)
        {
            float x = 250f * rng.NextSingle(), y = 250f * rng.NextSingle(), w = 20f + 80f * rng.NextSingle(), h = 20f + 80f * rng.NextSingle();
            if (i % 4 == 3) Array.Copy(caffe, 4 * (i - 1), caffe, 4 * i, 4);
            else (caffe[4 * i], caffe[4 * i + 1], caffe[4 * i + 2], caffe[4 * i + 3]) = (x / 300f, y / 300f, (x + w) / 300f, (y + h) / 300f);
            for (int k = 0; k < 4; k++) caffe[4 * P + 4 * i + k] = k < 2 ? 0.1f : 0.2f;
            (center[4 * i], center[4 * i + 1]) = ((caffe[4 * i] + caffe[4 * i + 2]) / 2, (caffe[4 * i + 1] + caffe[4 * i + 3]) / 2);
            (center[4 * i + 2], center[4 * i + 3]) = (caffe[4 * i + 2] - caffe[4 * i], caffe[4 * i + 3] - caffe[4 * i + 1]);
        }
        var anchors = caffe.Take(4 * P).Select(v => v * 300f).ToArray();
        var priors = flavor switch { ModelFlavor.Caffe => caffe, ModelFlavor.SsdPytorch => center, _ => anchors };
        float[] levels = [0.1f, 0.3f, 0.3f, 0.6f, 0.05f];
        var scores = Enumerable.Range(0, N * P * C).Select(_ => levels[rng.Next(levels.Length)]).ToArray();
        var loc = new float[N * P * 4];
        var p = new PostProcessParams(C, 0, 0.1f, 0.3f, topK, keepTopK, ConfIsProbability: true);
        ImageSize[] sizes = [new(300, 300), new(300, 300)];
        IPostProcessor reference = flavor switch
        {
            ModelFlavor.Caffe => new CaffeDetectionOutputReference(priors, p),
            ModelFlavor.SsdPytorch => new SsdPytorchDetectReference(priors, p),
            _ => new TorchvisionPostprocessReference(priors, new ImageSize(300, 300), p),
        };
        var expected = reference.Run(loc, scores, sizes);
        Assert.That(expected.Sum(d => d.Count), Is.GreaterThan(4), "the case has detections");

        using var post = new DevicePostProcessor(device, device.Accelerator.DefaultStream, PostProcessRules.For(flavor, p, null, 300, 300), priors);
        using var l = device.Accelerator.Allocate1D(loc);
        using var s = device.Accelerator.Allocate1D(scores);
        var got = post.Run(l.View, s.View, sizes);
        for (int n = 0; n < N; n++) Assert.That(got[n], Is.EqualTo(expected[n]), $"image {n}");
    }

    [Test]
    public void SettingsTheDeviceCannotTakeAreRejectedWithAReason()
    {
        static PostProcessRules Rules(ModelFlavor flavor, int classes, int topK, int keepTopK) =>
            PostProcessRules.For(flavor, new PostProcessParams(classes, 0, 0.01f, 0.45f, topK, keepTopK, true), null, 300, 300);
        Assert.That(() => Rules(ModelFlavor.SsdPytorch, 21, -1, 0).Shape(1, 100), Throws.ArgumentException.With.Message.Contains("top_k"));
        Assert.That(() => Rules(ModelFlavor.Caffe, 21, -1, -1).Shape(8, 8732), Throws.ArgumentException.With.Message.Contains("IoU mask"));
        Assert.That(() => Rules(ModelFlavor.Caffe, 1, 10, -1).Shape(1, 10), Throws.ArgumentException.With.Message.Contains("classes"));
        Assert.That(Rules(ModelFlavor.Caffe, 21, 400, 200).Fits(8, 8732), Is.True);
    }
}
