using ILGPU.Runtime;
using Ssd.Kernels.Core;
using Ssd.Kernels.Nms;

namespace Ssd.Tests.PostProcessing;

public class NmsTests
{
    // Boxes: 0 and 1 overlap heavily (IoU 0.81), 2 is identical to 0, 3 is far away.
    private static readonly float[] Boxes = [0, 0, 10, 10, 1, 1, 10, 10, 0, 0, 10, 10, 50, 50, 60, 60];

    private static float[] Scores(int priors, int classes, params (int Box, int Class, float Score)[] set)
    {
        var s = new float[priors * classes];
        foreach (var (b, c, v) in set) s[b * classes + c] = v;
        return s;
    }

    private static readonly NmsConfig Config = new(3, 0.1f, 0.5f, 400, 10);

    [Test]
    public void OverlapsAreSuppressedAndTiesGoToTheLowerIndex()
    {
        // Class 1: boxes 0 and 2 identical with equal scores: 0 wins; 1 overlaps 0 and is suppressed; 3 kept.
        var scores = Scores(4, 3, (0, 1, 0.9f), (1, 1, 0.8f), (2, 1, 0.9f), (3, 1, 0.3f));
        var d = NmsReference.Run(Boxes, scores, 1, Config)[0];
        Assert.That(d.Select(x => (x.Class, x.Score, x.X1, x.Y1)), Is.EqualTo(new[] { (1, 0.9f, 0f, 0f), (1, 0.3f, 50f, 50f) }));
    }

    [Test]
    public void ClassesAreIndependentAndBackgroundIsSkipped()
    {
        // Same box in class 1 and 2 survives in both; background class 0 never appears; equal scores: class 1 first.
        var scores = Scores(4, 3, (0, 0, 0.99f), (0, 1, 0.5f), (0, 2, 0.5f), (3, 2, 0.7f));
        var d = NmsReference.Run(Boxes, scores, 1, Config)[0];
        Assert.That(d.Select(x => (x.Class, x.Score)), Is.EqualTo(new[] { (2, 0.7f), (1, 0.5f), (2, 0.5f) }));
    }

    [Test]
    public void EverythingUnderTheThresholdGivesNothing()
    {
        var scores = Scores(4, 3, (0, 1, 0.1f), (1, 2, 0.05f)); // 0.1 is not strictly above 0.1
        Assert.That(NmsReference.Run(Boxes, scores, 1, Config)[0], Is.Empty);
    }

    [Test]
    public void TopKLimitsCandidatesAndDetections()
    {
        // Pre-NMS top-1 keeps only box 3 (best) of class 1; keep-top-2 over both classes.
        var scores = Scores(4, 3, (0, 1, 0.5f), (3, 1, 0.6f), (0, 2, 0.4f), (3, 2, 0.2f), (1, 2, 0.3f));
        var d = NmsReference.Run(Boxes, scores, 1, Config with { PreNmsTopK = 1, KeepTopK = 2 })[0];
        Assert.That(d.Select(x => (x.Class, x.Score)), Is.EqualTo(new[] { (1, 0.6f), (2, 0.4f) }));
    }

    [Test]
    public void IouFormulasOnKnownBoxes()
    {
        Assert.That(NmsReference.Iou([0, 0, 10, 10], [1, 1, 10, 10], IouMode.Caffe), Is.EqualTo(0.81f).Within(1e-6));
        Assert.That(NmsReference.Iou([0, 0, 10, 10], [5, 0, 15, 10], IouMode.Torchvision), Is.EqualTo(50f / 150f).Within(1e-6));
        Assert.That(NmsReference.Iou([0, 0, 1, 1], [2, 2, 3, 3], IouMode.Caffe), Is.EqualTo(0f));
        Assert.That(float.IsNaN(NmsReference.Iou([1, 1, 1, 1], [1, 1, 1, 1], IouMode.Torchvision)), Is.True, "0/0 as torchvision");
    }

    [TestCaseSource(typeof(TestDevices), nameof(TestDevices.Backends))]
    public void HandMadeCasesOnTheDevice(BackendKind backend)
    {
        var device = TestDevices.Get(backend);
        // Two images: image 0 the tie case, image 1 all under threshold (empty).
        var boxes = Boxes.Concat(Boxes).ToArray();
        var scores = Scores(4, 3, (0, 1, 0.9f), (1, 1, 0.8f), (2, 1, 0.9f), (3, 1, 0.3f), (0, 2, 0.9f)).Concat(new float[12]).ToArray();
        AssertDeviceMatchesReference(device, boxes, scores, 2, Config);
    }

    [TestCase(BackendKind.CpuSim, 1, 200, 4, 50, IouMode.Caffe)]
    [TestCase(BackendKind.CpuSim, 2, 300, 3, 40, IouMode.Torchvision)]
    [TestCase(BackendKind.OpenCL, 1, 8732, 21, 400, IouMode.Caffe)]
    public void RandomCasesMatchReference(BackendKind backend, int images, int priors, int classes, int topK, IouMode mode)
    {
        var device = TestDevices.Get(backend);
        var rng = new Random(priors + classes);
        var boxes = new float[images * priors * 4];
        for (int i = 0; i < images * priors; i++)
        {
            // Clustered boxes so many overlap; scores on a coarse grid so ties are common.
            float cx = rng.Next(8) * 0.12f + rng.NextSingle() * 0.05f, cy = rng.Next(8) * 0.12f + rng.NextSingle() * 0.05f;
            float w = 0.05f + rng.NextSingle() * 0.2f, h = 0.05f + rng.NextSingle() * 0.2f;
            boxes[4 * i] = cx - w / 2; boxes[4 * i + 1] = cy - h / 2; boxes[4 * i + 2] = cx + w / 2; boxes[4 * i + 3] = cy + h / 2;
        }
        var scores = Enumerable.Range(0, images * priors * classes).Select(_ => rng.Next(200) / 1000f).ToArray();
        AssertDeviceMatchesReference(device, boxes, scores, images, new NmsConfig(classes, 0.05f, 0.45f, topK, 200, mode));
    }

    private static void AssertDeviceMatchesReference(ComputeDevice device, float[] boxes, float[] scores, int images, NmsConfig config)
    {
        var expected = NmsReference.Run(boxes, scores, images, config);
        Assert.That(expected.Sum(e => e.Length), Is.GreaterThan(0), "the case has detections");
        using var b = device.Upload(boxes);
        using var s = device.Upload(scores);
        using var det = device.Allocate((long)images * config.KeepTopK * NmsConfig.DetectionSize);
        using var counts = device.Accelerator.Allocate1D<int>(images);
        new NmsOp(device).Run(b.View, s.View, images, config, det.View, counts.View);
        var actual = NmsOp.Read(det.GetAsArray1D(), counts.GetAsArray1D(), images, config.KeepTopK);
        for (int n = 0; n < images; n++)
            Assert.That(actual[n], Is.EqualTo(expected[n]), $"image {n}");
    }

    [Test]
    public void BadInputIsRejected()
    {
        Assert.That(() => NmsReference.Run(Boxes, new float[5], 1, Config), Throws.ArgumentException.With.Message.Contains("scores"));
        Assert.That(() => NmsReference.Run(Boxes, new float[12], 1, Config with { KeepTopK = 0 }), Throws.ArgumentException.With.Message.Contains("top-k"));
    }
}
