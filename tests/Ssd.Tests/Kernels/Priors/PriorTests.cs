using ILGPU.Runtime;
using Ssd.Kernels.Core;
using Ssd.Kernels.Priors;
using Ssd.Tests.Fixtures;

namespace Ssd.Tests.Kernels.Priors;

public class PriorTests
{
    private static readonly (int, int)[] Grids300 = TorchvisionPriorConfig.Ssd300Grids.Select(g => (g, g)).ToArray();
    private static readonly (int, int)[] Grids512 = TorchvisionPriorConfig.Ssd512Grids.Select(g => (g, g)).ToArray();

    [Test]
    public void StandardConfigsGiveThePaperBoxCounts()
    {
        Assert.That(PriorReference.Caffe(CaffePriorConfig.Ssd300Voc).Length, Is.EqualTo(2 * 8732 * 4));
        Assert.That(PriorReference.Caffe(CaffePriorConfig.Ssd512Voc).Length, Is.EqualTo(2 * 24564 * 4));
        Assert.That(PriorReference.SsdPytorch(SsdPytorchPriorConfig.Ssd300Voc).Length, Is.EqualTo(8732 * 4));
        Assert.That(PriorReference.SsdPytorch(SsdPytorchPriorConfig.Ssd512Voc).Length, Is.EqualTo(24564 * 4));
        Assert.That(PriorReference.Torchvision(TorchvisionPriorConfig.Ssd300, Grids300, 300, 300).Length, Is.EqualTo(8732 * 4));
        Assert.That(PriorReference.Torchvision(TorchvisionPriorConfig.Ssd512, Grids512, 512, 512).Length, Is.EqualTo(24564 * 4));
    }

    [Test]
    public void CaffeFirstCellHasTheExpectedBoxesInCaffeOrder()
    {
        // conv4_3 of SSD300, cell (0, 0): centre (4, 4) px; min 30, sqrt(30*60), then ar 2 and 1/2, all over 300.
        var p = PriorReference.Caffe(CaffePriorConfig.Ssd300Voc);
        double s = Math.Sqrt(30 * 60), w2 = 30 * Math.Sqrt(2), h2 = 30 / Math.Sqrt(2);
        double[][] expected =
        [
            [(4 - 15) / 300.0, (4 - 15) / 300.0, (4 + 15) / 300.0, (4 + 15) / 300.0],
            [(4 - s / 2) / 300, (4 - s / 2) / 300, (4 + s / 2) / 300, (4 + s / 2) / 300],
            [(4 - w2 / 2) / 300, (4 - h2 / 2) / 300, (4 + w2 / 2) / 300, (4 + h2 / 2) / 300],
            [(4 - h2 / 2) / 300, (4 - w2 / 2) / 300, (4 + h2 / 2) / 300, (4 + w2 / 2) / 300],
        ];
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 4; c++)
                Assert.That(p[4 * b + c], Is.EqualTo(expected[b][c]).Within(1e-6), $"box {b} coord {c}");
        // Variances of the first prior sit in the second half.
        Assert.That(p.Skip(8732 * 4).Take(4), Is.EqualTo(new[] { 0.1f, 0.1f, 0.2f, 0.2f }));
    }

    [Test]
    public void CaffeKeepsFractionalSizesAsOpenCvDoes()
    {
        // SSD512 conv4_3 min_size 35.84, max_size 76.8. OpenCV DNN's PriorBox (the reference; checked in full by
        // CaffeSsdAcceptanceTests against its mbox_priorbox) keeps them as floats: the first box of cell (0,0) is
        // (4 -/+ 17.92) / 512, the second sqrt(35.84 * 76.8) wide, and the ratio-2 box 35.84 * sqrt(2) by
        // 35.84 / sqrt(2). (This test used to expect weiliu89 Caffe's int truncation, 35.84 acting as 35, which
        // OpenCV does not do.)
        var p = PriorReference.Caffe(CaffePriorConfig.Ssd512Voc);
        double min = 35.84, s = Math.Sqrt(35.84 * 76.8), w2 = min * Math.Sqrt(2), h2 = min / Math.Sqrt(2);
        double[] expected = [(4 - min / 2) / 512, (4 - min / 2) / 512, (4 + min / 2) / 512, (4 + min / 2) / 512,
            (4 - s / 2) / 512, (4 - s / 2) / 512, (4 + s / 2) / 512, (4 + s / 2) / 512,
            (4 - w2 / 2) / 512, (4 - h2 / 2) / 512, (4 + w2 / 2) / 512, (4 + h2 / 2) / 512];
        for (int i = 0; i < expected.Length; i++)
            Assert.That(p[i], Is.EqualTo(expected[i]).Within(1e-6), $"value {i}");
    }

    [Test]
    public void SsdPytorchFirstCellMatchesItsFormula()
    {
        var p = PriorReference.SsdPytorch(SsdPytorchPriorConfig.Ssd300Voc);
        double fk = 300 / 8.0, cx = 0.5 / fk, sk = 30 / 300.0, skp = Math.Sqrt(sk * (60 / 300.0));
        float[] expected = [.. new[] { cx, cx, sk, sk, cx, cx, skp, skp, cx, cx, sk * Math.Sqrt(2), sk / Math.Sqrt(2), cx, cx, sk / Math.Sqrt(2), sk * Math.Sqrt(2) }.Select(v => (float)v)];
        Assert.That(p.Take(16), Is.EqualTo(expected));
    }

    [TestCaseSource(typeof(TestDevices), nameof(TestDevices.Backends))]
    public void KernelsEqualReferenceBitForBit(BackendKind backend)
    {
        var device = TestDevices.Get(backend);
        var op = new PriorOp(device);
        // Small configs on the simulator, the real ones on OpenCL.
        bool small = backend == BackendKind.CpuSim;
        var caffe = small ? SmallCaffe() : CaffePriorConfig.Ssd512Voc;
        using (var b = op.Caffe(caffe)) AssertBits(b.GetAsArray1D(), PriorReference.Caffe(caffe), "caffe");
        var pt = small ? SmallPytorch() : SsdPytorchPriorConfig.Ssd300Voc;
        using (var b = op.SsdPytorch(pt)) AssertBits(b.GetAsArray1D(), PriorReference.SsdPytorch(pt), "ssd.pytorch");
        var tv = small ? TorchvisionPriorConfig.FromRatios([[2], [2, 3]], 0.2, 0.9) : TorchvisionPriorConfig.Ssd512;
        (int, int)[] grids = small ? [(3, 4), (2, 1)] : Grids512;
        (int h, int w) = small ? (90, 120) : (512, 512);
        using (var b = op.Torchvision(tv, grids, h, w)) AssertBits(b.GetAsArray1D(), PriorReference.Torchvision(tv, grids, h, w), "torchvision");
    }

    private static CaffePriorConfig SmallCaffe() => new(120, 90,
    [
        new CaffePriorBoxLayer(4, 3, [20.5f, 40f], [50f, 70.9f], [2f, 3f, 2f], Flip: true, Clip: true, [0.1f, 0.1f, 0.2f, 0.2f]),
        new CaffePriorBoxLayer(2, 1, [60f], [], [2f], Flip: false, Clip: false, [0.15f], StepW: 50, StepH: 40, Offset: 0.25f),
    ]);

    private static SsdPytorchPriorConfig SmallPytorch() => new(100, [5, 2], [20, 50], [20, 50], [45, 90], [[2], [2, 3]], Clip: true);

    [Test]
    public void CaffeLayerWithoutMaxSizeAndFlipHasMinAndRatioBoxesOnly()
    {
        var p = PriorReference.Caffe(SmallCaffe());
        // Layer 0: 2 min sizes x (1 + max + ar 2, 1/2, 3, 1/3) = 12 per cell x 12 cells; layer 1: 1 x (1 + ar 2) = 2 x 2 cells.
        Assert.That(p.Length, Is.EqualTo(2 * 4 * (12 * 12 + 2 * 2)));
    }

    private static void AssertBits(float[] actual, float[] expected, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), what);
        for (int i = 0; i < actual.Length; i++)
            if (BitConverter.SingleToInt32Bits(actual[i]) != BitConverter.SingleToInt32Bits(expected[i]))
                Assert.Fail($"{what}: element {i} is {actual[i]:R}, reference {expected[i]:R}");
    }

    [TestCase("torchvision_ssd300.f32")]
    [TestCase("torchvision_ratios_320x480.f32")]
    public void ReferenceMatchesTorchvisionFixture(string name)
    {
        var expected = FixtureFiles.ReadFloat32(Path.Combine("priors", name));
        float[] actual = name == "torchvision_ssd300.f32"
            ? PriorReference.Torchvision(TorchvisionPriorConfig.Ssd300, Grids300, 300, 300)
            : PriorReference.Torchvision(TorchvisionPriorConfig.FromRatios([[2], [2, 3], [2]], 0.2, 0.9, clip: false), [(20, 30), (10, 15), (5, 8)], 320, 480);
        TestData.AssertClose(actual, expected, 0, 1e-6f, name);
        // In practice it is bit-exact: same float32 operations in the same order.
        AssertBits(actual, expected, name);
    }

    [Test]
    public void BadConfigsAreRejectedWithTheirReason()
    {
        var bad = new CaffePriorConfig(300, 300, [new CaffePriorBoxLayer(3, 3, [30], [20], [2], true, false, [0.1f, 0.2f])]);
        Assert.That(() => PriorReference.Caffe(bad), Throws.ArgumentException.With.Message.Contains("max_size"));
        var badVar = bad with { Layers = [bad.Layers[0] with { MaxSizes = [] }] };
        Assert.That(() => PriorReference.Caffe(badVar), Throws.ArgumentException.With.Message.Contains("variance"));
        Assert.That(() => PriorReference.Torchvision(TorchvisionPriorConfig.Ssd300, Grids512, 300, 300), Throws.ArgumentException);
    }
}
