using System.Text.Json;
using ILGPU.Runtime;
using Ssd.Kernels.Core;
using Ssd.Kernels.Pooling;
using Ssd.Tests.Fixtures;

namespace Ssd.Tests.Kernels.Pooling;

public class PoolingTests
{
    // ---- The output-size rules, against values worked by hand from the formulas ----

    [Test]
    public void CaffeCeilRuleHandWorked()
    {
        // 75, k2 s2 p0: ceil((75 - 2) / 2) + 1 = ceil(36.5) + 1 = 38 (no clip: p = 0).
        Assert.That(PoolOutputSize.Compute(PoolOutputRule.CaffeCeil, 75, 2, 2, 0), Is.EqualTo(38));
        // 38, k2 s2 p0: 36 / 2 + 1 = 19.
        Assert.That(PoolOutputSize.Compute(PoolOutputRule.CaffeCeil, 38, 2, 2, 0), Is.EqualTo(19));
        // 19, k3 s1 p1 (pool5): ceil(18 / 1) + 1 = 19; (19 - 1) * 1 = 18 >= 20? no -> 19.
        Assert.That(PoolOutputSize.Compute(PoolOutputRule.CaffeCeil, 19, 3, 1, 1), Is.EqualTo(19));
        // 5, k2 s2 p1: ceil(5 / 2) + 1 = 4; (4 - 1) * 2 = 6 >= 5 + 1 = 6: the out-- rule fires -> 3.
        Assert.That(PoolOutputSize.Compute(PoolOutputRule.CaffeCeil, 5, 2, 2, 1), Is.EqualTo(3));
        // 6, k3 s2 p1: ceil(5 / 2) + 1 = 4; (4 - 1) * 2 = 6 >= 7? no -> 4.
        Assert.That(PoolOutputSize.Compute(PoolOutputRule.CaffeCeil, 6, 3, 2, 1), Is.EqualTo(4));
        // 3, k1 s2 p0: ceil(2 / 2) + 1 = 2; p = 0, no clip check; last window starts at 2 < 3 -> 2.
        Assert.That(PoolOutputSize.Compute(PoolOutputRule.CaffeCeil, 3, 1, 2, 0), Is.EqualTo(2));
    }

    [Test]
    public void TorchRulesHandWorked()
    {
        // floor: (75 - 2) / 2 = 36, +1 = 37.   ceil: ceil(36.5) + 1 = 38; (38 - 1) * 2 = 74 >= 75? no -> 38.
        Assert.That(PoolOutputSize.Compute(PoolOutputRule.TorchFloor, 75, 2, 2, 0), Is.EqualTo(37));
        Assert.That(PoolOutputSize.Compute(PoolOutputRule.TorchCeil, 75, 2, 2, 0), Is.EqualTo(38));
        // ssd.pytorch pool3 (ceil_mode) on 75 -> 38, then pool4 38 -> 19 both ways.
        Assert.That(PoolOutputSize.Compute(PoolOutputRule.TorchFloor, 38, 2, 2, 0), Is.EqualTo(19));
        Assert.That(PoolOutputSize.Compute(PoolOutputRule.TorchCeil, 38, 2, 2, 0), Is.EqualTo(19));
        // pool5 19, k3 s1 p1: (19 + 2 - 3) / 1 + 1 = 19 both ways.
        Assert.That(PoolOutputSize.Compute(PoolOutputRule.TorchFloor, 19, 3, 1, 1), Is.EqualTo(19));
        Assert.That(PoolOutputSize.Compute(PoolOutputRule.TorchCeil, 19, 3, 1, 1), Is.EqualTo(19));
        // 5, k2 s2 p1: floor(5 / 2) + 1 = 3; ceil: 4, then (4 - 1) * 2 = 6 >= 6 -> 3.
        Assert.That(PoolOutputSize.Compute(PoolOutputRule.TorchFloor, 5, 2, 2, 1), Is.EqualTo(3));
        Assert.That(PoolOutputSize.Compute(PoolOutputRule.TorchCeil, 5, 2, 2, 1), Is.EqualTo(3));
        // 3, k1 s2 p0: PyTorch clips even with p = 0; ceil(2 / 2) + 1 = 2; (2 - 1) * 2 = 2 >= 3? no -> 2.
        Assert.That(PoolOutputSize.Compute(PoolOutputRule.TorchCeil, 3, 1, 2, 0), Is.EqualTo(2));
        // 4, k1 s3 p0: ceil(3 / 3) + 1 = 2; (2 - 1) * 3 = 3 >= 4? no -> 2.  2, k1 s3: ceil(1/3) + 1 = 2; 3 >= 2 -> 1.
        Assert.That(PoolOutputSize.Compute(PoolOutputRule.TorchCeil, 4, 1, 3, 0), Is.EqualTo(2));
        Assert.That(PoolOutputSize.Compute(PoolOutputRule.TorchCeil, 2, 1, 3, 0), Is.EqualTo(1));
    }

    [Test]
    public void CaffeKeepsAnEmptyLastWindowWhenUnpaddedSoTheShapeIsRefused()
    {
        // 2, k1 s3 p0 under Caffe: ceil(1 / 3) + 1 = 2 (no clip as p = 0): window 1 starts at 3, past the input.
        Assert.That(PoolOutputSize.Compute(PoolOutputRule.CaffeCeil, 2, 1, 3, 0), Is.EqualTo(2));
        Assert.Throws<ArgumentException>(() => PoolGeometry.Create(new TensorShape(1, 1, 2, 2), 1, 3, 0, PoolOutputRule.CaffeCeil));
    }

    [Test]
    public void BadParametersAreRefused()
    {
        Assert.Throws<ArgumentException>(() => PoolOutputSize.Compute(PoolOutputRule.CaffeCeil, 5, 0, 1, 0));
        Assert.Throws<ArgumentException>(() => PoolOutputSize.Compute(PoolOutputRule.CaffeCeil, 5, 2, 0, 0));
        Assert.Throws<ArgumentException>(() => PoolOutputSize.Compute(PoolOutputRule.CaffeCeil, 5, 2, 1, 2));
        Assert.Throws<ArgumentException>(() => PoolOutputSize.Compute(PoolOutputRule.TorchFloor, 2, 5, 1, 1));
        var g = PoolGeometry.Create(new TensorShape(1, 1, 4, 4), 2, 2, 0, PoolOutputRule.TorchFloor);
        Assert.Throws<ArgumentException>(() => PoolReference.Max(g, new float[15], new float[4]));
    }

    // ---- Kernels vs the reference ----

    public static IEnumerable<TestCaseData> SmallCases()
    {
        // (H, W, kernel, stride, pad, rule): odd sizes, padding edges, clipped ceil-mode windows.
        yield return new TestCaseData(7, 5, 2, 2, 0, PoolOutputRule.CaffeCeil);
        yield return new TestCaseData(7, 5, 2, 2, 0, PoolOutputRule.TorchCeil);
        yield return new TestCaseData(7, 5, 2, 2, 0, PoolOutputRule.TorchFloor);
        yield return new TestCaseData(5, 6, 3, 1, 1, PoolOutputRule.CaffeCeil);
        yield return new TestCaseData(5, 7, 3, 2, 1, PoolOutputRule.CaffeCeil);
        yield return new TestCaseData(5, 7, 2, 2, 1, PoolOutputRule.TorchCeil);
        yield return new TestCaseData(6, 9, 3, 3, 2, PoolOutputRule.CaffeCeil);
    }

    [TestCaseSource(nameof(SmallCases))]
    public void MaxMatchesReferenceOnCpuSim(int h, int w, int k, int s, int p, PoolOutputRule rule)
    {
        var g = PoolGeometry.Create(new TensorShape(2, 3, h, w), k, s, p, rule);
        Compare(TestDevices.CpuSim, g, null, seed: h * 31 + w);
    }

    [TestCaseSource(nameof(SmallCases))]
    public void AverageMatchesReferenceOnCpuSim(int h, int w, int k, int s, int p, PoolOutputRule rule)
    {
        var g = PoolGeometry.Create(new TensorShape(2, 3, h, w), k, s, p, rule);
        Compare(TestDevices.CpuSim, g, AvgPoolDivisor.PaddedWindow, seed: h * 37 + w);
        Compare(TestDevices.CpuSim, g, AvgPoolDivisor.ValidWindow, seed: h * 41 + w);
    }

    [Test]
    public void GlobalPoolingOnCpuSim()
    {
        var g = PoolGeometry.Global(new TensorShape(2, 3, 5, 3));
        Assert.That((g.OutH, g.OutW), Is.EqualTo((1, 1)));
        Compare(TestDevices.CpuSim, g, null, seed: 7);
        Compare(TestDevices.CpuSim, g, AvgPoolDivisor.PaddedWindow, seed: 8);
    }

    [Test]
    public void ReferenceAverageDividesByTheClippedPaddedWindow()
    {
        // All ones, 1x1x3x3, k2 s2 p1, Caffe ceil: out = ceil(3/2) + 1 = 3; (3-1)*2 = 4 >= 4 -> 2.
        // Window (0,0) covers rows/cols -1..0: one real cell, padded window 2x2 = 4 -> 1/4.
        // Window (1,1) covers rows/cols 1..2: four real cells -> 4/4 = 1. Valid-only divisor: 1/1 and 4/4.
        var g = PoolGeometry.Create(new TensorShape(1, 1, 3, 3), 2, 2, 1, PoolOutputRule.CaffeCeil);
        var x = Enumerable.Repeat(1f, 9).ToArray();
        var y = new float[4];
        PoolReference.Average(g, AvgPoolDivisor.PaddedWindow, x, y);
        Assert.That(y, Is.EqualTo(new[] { 0.25f, 0.5f, 0.5f, 1f }));
        PoolReference.Average(g, AvgPoolDivisor.ValidWindow, x, y);
        Assert.That(y, Is.EqualTo(new[] { 1f, 1f, 1f, 1f }));
        // 1x1x3x3, k2 s2 p0, Torch ceil: out 2; window (1,1) hangs past the input (rows 2..3) and, p being 0,
        // is clipped to the padded input: divisor 1, not 4.
        var c = PoolGeometry.Create(new TensorShape(1, 1, 3, 3), 2, 2, 0, PoolOutputRule.TorchCeil);
        PoolReference.Average(c, AvgPoolDivisor.PaddedWindow, x, y);
        Assert.That(y, Is.EqualTo(new[] { 1f, 1f, 1f, 1f }));
    }

    // ---- PoCL at SSD sizes ----

    [Test]
    public void Conv43PoolOnOpenCL()
    {
        // The pool after conv4_3 (pool4): 512x38x38, k2 s2 -> 19x19.
        var g = PoolGeometry.Create(new TensorShape(1, 512, 38, 38), 2, 2, 0, PoolOutputRule.CaffeCeil);
        Compare(TestDevices.OpenCL, g, null, seed: 43);
    }

    [Test]
    public void Pool5OnOpenCL()
    {
        var g = PoolGeometry.Create(new TensorShape(1, 512, 19, 19), 3, 1, 1, PoolOutputRule.CaffeCeil);
        Compare(TestDevices.OpenCL, g, null, seed: 5);
        Compare(TestDevices.OpenCL, g, AvgPoolDivisor.PaddedWindow, seed: 6);
        Compare(TestDevices.OpenCL, g, AvgPoolDivisor.ValidWindow, seed: 7);
    }

    [Test]
    public void CeilPoolOnOpenCL()
    {
        // ssd.pytorch pool3 on conv3_3 75x75 (ceil_mode): the last window is clipped. Fewer channels keep it quick.
        var g = PoolGeometry.Create(new TensorShape(2, 64, 75, 75), 2, 2, 0, PoolOutputRule.TorchCeil);
        Assert.That((g.OutH, g.OutW), Is.EqualTo((38, 38)));
        Compare(TestDevices.OpenCL, g, null, seed: 3);
    }

    // ---- PyTorch's own numbers (tools/fixtures/make_pool_fixture.py) ----

    [TestCaseSource(typeof(TestDevices), nameof(TestDevices.Backends))]
    public void MatchesTorchFixture(BackendKind backend)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(FixtureFiles.Path("pool_torch.json")));
        var root = doc.RootElement;
        var shape = root.GetProperty("input_shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var input = new TensorShape(shape[0], shape[1], shape[2], shape[3]);
        var x = root.GetProperty("input").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        var device = TestDevices.Get(backend);
        var op = new PoolOp(device);
        using var xb = device.Upload(x);
        int index = 0;
        foreach (var c in root.GetProperty("cases").EnumerateArray())
        {
            string what = $"torch case {index++}: {c.GetProperty("op").GetString()} k{c.GetProperty("kernel")} s{c.GetProperty("stride")} p{c.GetProperty("pad")} ceil={c.GetProperty("ceil_mode")} include_pad={c.GetProperty("count_include_pad")}";
            var rule = c.GetProperty("ceil_mode").GetBoolean() ? PoolOutputRule.TorchCeil : PoolOutputRule.TorchFloor;
            var g = PoolGeometry.Create(input, c.GetProperty("kernel").GetInt32(), c.GetProperty("stride").GetInt32(), c.GetProperty("pad").GetInt32(), rule);
            var outShape = c.GetProperty("output_shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.That(new[] { g.N, g.C, g.OutH, g.OutW }, Is.EqualTo(outShape), what + ": output shape");
            var expected = c.GetProperty("output").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();

            var reference = new float[g.Output.Count];
            using var yb = device.Allocate(g.Output.Count);
            if (c.GetProperty("op").GetString() == "max")
            {
                PoolReference.Max(g, x, reference);
                op.Max(g, xb.View, yb.View);
                TestData.AssertClose(reference, expected, 0, 0, what + " (reference)");
            }
            else
            {
                var divisor = c.GetProperty("count_include_pad").GetBoolean() ? AvgPoolDivisor.PaddedWindow : AvgPoolDivisor.ValidWindow;
                PoolReference.Average(g, divisor, x, reference);
                op.Average(g, divisor, xb.View, yb.View);
                TestData.AssertClose(reference, expected, 1e-6f, 1e-7f, what + " (reference)");
            }
            TestData.AssertClose(yb.GetAsArray1D(), expected, 1e-6f, 1e-7f, what + $" ({backend})");
        }
    }

    private static void Compare(ComputeDevice device, PoolGeometry g, AvgPoolDivisor? divisor, int seed)
    {
        var x = TestData.Uniform(seed, g.Input.Count);
        var expected = new float[g.Output.Count];
        using var xb = device.Upload(x);
        using var yb = device.Allocate(g.Output.Count);
        var op = new PoolOp(device);
        if (divisor is { } d)
        {
            PoolReference.Average(g, d, x, expected);
            op.Average(g, d, xb.View, yb.View);
        }
        else
        {
            PoolReference.Max(g, x, expected);
            op.Max(g, xb.View, yb.View);
        }
        // Max is a selection: exact. Average: same summation order, but a backend may fuse or reorder.
        float tol = divisor is null ? 0f : 1e-6f;
        TestData.AssertClose(yb.GetAsArray1D(), expected, tol, tol, $"{(divisor is null ? "max" : "avg " + divisor)} {g.Input} k{g.KernelH} s{g.StrideH} p{g.PadH} on {device.Kind}");
    }
}
