using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.BoxCoding;
using Ssd.Kernels.Core;
using Ssd.Kernels.Detect;
using Ssd.Kernels.Softmax;

namespace Ssd.Tests.Kernels;

/// <summary>
/// The detection-output kernels one stage at a time: the exp against MathF.Exp, the decode and softmax kernels
/// against BoxCodingReference / SoftmaxReference, the sort key order, and the ranking + NMS + merge against
/// <see cref="DetectReference"/>; all bit for bit.
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
            device.Kernel("detect.decodetorchvision.1", x => x.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, DecodeWeights, float, float>(DetectDecodeKernels.DecodeTorchvision1))(
                a.DefaultStream, N * P, pr.View, l.View, o.View, P, DecodeWeights.Ssd, 300f, 200f);
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
        device.Kernel("detect.softmaxrows.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(DetectDecodeKernels.SoftmaxRows1))(
            device.Accelerator.DefaultStream, Rows, xb.View, yb.View, C);
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
    /// Ranking, NMS and merge alone (boxes and probabilities given) on the CPU simulator, every flavour, against
    /// DetectReference: tied scores, duplicated boxes, torchvision with the coordinate trick (few candidates).
    /// </summary>
    [TestCase(DetectFlavor.Caffe, 5, 12), TestCase(DetectFlavor.Caffe, -1, -1), TestCase(DetectFlavor.SsdPytorch, 6, 0),
     TestCase(DetectFlavor.Torchvision, 8, 10), TestCase(DetectFlavor.Torchvision, 8, 0)]
    public void DetectionOutputEqualsDetectReference(DetectFlavor flavor, int topK, int keepTopK)
    {
        var device = TestDevices.CpuSim;
        const int P = 20, C = 4, N = 2;
        var rng = new Random(9 + (int)flavor);
        var boxes = new float[N * P * 4];
        for (int i = 0; i < N * P; i++)
        {
            float x = 250f * rng.NextSingle(), y = 250f * rng.NextSingle(), w = 20f + 80f * rng.NextSingle(), h = 20f + 80f * rng.NextSingle();
            if (i % 4 == 3) Array.Copy(boxes, 4 * (i - 1), boxes, 4 * i, 4);
            else (boxes[4 * i], boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3]) = (x, y, x + w, y + h);
        }
        float[] levels = [0.1f, 0.3f, 0.3f, 0.6f, 0.05f];
        var scores = Enumerable.Range(0, N * P * C).Select(_ => levels[rng.Next(levels.Length)]).ToArray();
        var config = new DetectConfig(flavor, C, 0, 0.1f, 0.3f, topK, keepTopK, ConfIsProbability: true);
        var shape = config.Shape(N, P);
        var expected = DetectReference.Run(boxes, scores, shape);
        Assert.That(expected.Sum(d => d.Length), Is.GreaterThan(4), "the case has detections");

        using var op = new DetectOp(device, config);
        using var b = device.Accelerator.Allocate1D(boxes);
        using var s = device.Accelerator.Allocate1D(scores);
        using var r = device.Accelerator.Allocate1D<float>((long)N * shape.Stride);
        op.Detect(b.View, s.View, N, r.View);
        var got = DetectOp.Read(r.GetAsArray1D(), shape);
        for (int n = 0; n < N; n++) Assert.That(got[n], Is.EqualTo(expected[n]), $"image {n}");
    }

    [Test]
    public void SettingsTheDeviceCannotTakeAreRejectedWithAReason()
    {
        Assert.That(() => new DetectConfig(DetectFlavor.SsdPytorch, 21, 0, 0.01f, 0.45f, -1, 0, true).Shape(1, 100),
            Throws.ArgumentException.With.Message.Contains("top_k"));
        Assert.That(() => new DetectConfig(DetectFlavor.Caffe, 21, 0, 0.01f, 0.45f, -1, -1, true).Shape(8, 8732),
            Throws.ArgumentException.With.Message.Contains("IoU mask"));
        Assert.That(() => new DetectConfig(DetectFlavor.Caffe, 1, 0, 0.01f, 0.45f, 10, -1, true).Shape(1, 10),
            Throws.ArgumentException.With.Message.Contains("classes"));
        Assert.That(new DetectConfig(DetectFlavor.Caffe, 21, 0, 0.01f, 0.45f, 400, 200, true).Fits(8, 8732), Is.True);
    }
}
