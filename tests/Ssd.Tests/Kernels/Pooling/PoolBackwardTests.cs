using Ssd.Kernels.Core;
using Ssd.Kernels.Pooling;
using Ssd.Tests.Kernels.Backward;

namespace Ssd.Tests.Kernels.Pooling;

/// <summary>
/// <see cref="PoolBackwardReference"/>: the forward with argmax against <see cref="PoolReference.Max"/>, the gradients
/// against finite differences and against torch autograd (max_pool2d's indices and gradients, avg_pool2d's).
/// </summary>
public class PoolBackwardTests
{
    public sealed record Case(string Name, TensorShape Input, int Kernel, int Stride, int Pad, PoolOutputRule Rule)
    {
        public PoolGeometry Geometry => PoolGeometry.Create(Input, Kernel, Stride, Pad, Rule);
        public override string ToString() => Name;
    }

    public static readonly Case[] SmallCases =
    [
        new("2x2 s2 floor", new(2, 2, 6, 7), 2, 2, 0, PoolOutputRule.TorchFloor),
        new("2x2 s2 ceil, clipped last window (pool3)", new(1, 3, 7, 5), 2, 2, 0, PoolOutputRule.TorchCeil),
        new("3x3 s1 p1, overlapping windows (pool5)", new(2, 2, 5, 6), 3, 1, 1, PoolOutputRule.TorchFloor),
        new("3x3 s2 p1 Caffe ceil", new(1, 2, 7, 6), 3, 2, 1, PoolOutputRule.CaffeCeil),
        new("2x2 s2 p1 torch ceil", new(1, 2, 5, 7), 2, 2, 1, PoolOutputRule.TorchCeil),
        new("3x3 s3 p2 Caffe ceil", new(1, 1, 6, 9), 3, 3, 2, PoolOutputRule.CaffeCeil),
    ];

    /// <summary>Values 0.01 apart, shuffled: no two cells of a window within a finite-difference step of each other.</summary>
    internal static float[] Distinct(int seed, long count)
    {
        var rng = new Random(seed);
        var v = Enumerable.Range(0, (int)count).Select(i => (i - count / 2f) * 0.01f).ToArray();
        rng.Shuffle(v);
        return v;
    }

    [TestCaseSource(nameof(SmallCases))]
    public void ForwardWithArgmaxIsTheForwardBitForBit(Case c)
    {
        var g = c.Geometry;
        var x = CpuVariants.Spiky(3, g.Input.Count);
        var (y, expected, argmax) = (new float[g.Output.Count], new float[g.Output.Count], new int[g.Output.Count]);
        PoolBackwardReference.MaxWithArgmax(g, x, y, argmax);
        PoolReference.Max(g, x, expected);
        CpuVariants.AssertBits(y, expected, c.Name);
        int plane = g.H * g.W;
        for (int o = 0; o < y.Length; o++)
        {
            float at = x[o / (g.OutH * g.OutW) * plane + argmax[o]];
            if (y[o] != float.NegativeInfinity)
                Assert.That(BitConverter.SingleToInt32Bits(at), Is.EqualTo(BitConverter.SingleToInt32Bits(y[o])), $"{c.Name}: output {o} points at {at}, not its max {y[o]}");
        }
    }

    [Test]
    public void ArgmaxTakesTheFirstMaximumAndAnEmptyWindowsFirstCell()
    {
        // 1x1x2x4, 2x2 stride 2: window 0 holds 1, 3, 3, 0 (rows 0-1, cols 0-1) -> the first 3, at (0, 1) = 1.
        // Window 1 holds only -inf and NaN: nothing beats -inf, so it points at its first cell (0, 2) = 2.
        var g = PoolGeometry.Create(new TensorShape(1, 1, 2, 4), 2, 2, 0, PoolOutputRule.TorchFloor);
        float[] x = [1, 3, float.NegativeInfinity, float.NaN, 3, 0, float.NaN, float.NegativeInfinity];
        var (y, a) = (new float[2], new int[2]);
        PoolBackwardReference.MaxWithArgmax(g, x, y, a);
        Assert.That(a, Is.EqualTo(new[] { 1, 2 }));
        Assert.That(y, Is.EqualTo(new[] { 3f, float.NegativeInfinity }));
        // Padding never wins: 1x1x2x2, 3x3 s1 p1, all negative -> every window's max is a real cell.
        var gp = PoolGeometry.Create(new TensorShape(1, 1, 2, 2), 3, 1, 1, PoolOutputRule.TorchFloor);
        var (yp, ap) = (new float[4], new int[4]);
        PoolBackwardReference.MaxWithArgmax(gp, [-4, -3, -2, -1], yp, ap);
        Assert.That(ap, Is.EqualTo(new[] { 3, 3, 3, 3 }));
    }

    [TestCaseSource(nameof(SmallCases))]
    public void MaxBackwardMatchesFiniteDifferences(Case c)
    {
        var g = c.Geometry;
        var x = Distinct(7, g.Input.Count);
        var r = TestData.Uniform(8, g.Output.Count);
        var (y, argmax) = (new float[g.Output.Count], new int[g.Output.Count]);
        PoolBackwardReference.MaxWithArgmax(g, x, y, argmax);
        var dx = new float[x.Length];
        PoolBackwardReference.MaxBackward(g, argmax, r, dx);
        double Loss() { PoolReference.Max(g, x, y); return FiniteDifference.Dot(r, y); }
        FiniteDifference.AssertMatches(dx, FiniteDifference.Gradient(x, Loss, 1e-3), 1e-5, c.Name);
    }

    [TestCaseSource(nameof(SmallCases))]
    public void AverageBackwardMatchesFiniteDifferences(Case c)
    {
        var g = c.Geometry;
        foreach (var divisor in new[] { AvgPoolDivisor.PaddedWindow, AvgPoolDivisor.ValidWindow })
        {
            var x = TestData.Uniform(9, g.Input.Count);
            var r = TestData.Uniform(10, g.Output.Count);
            var (y, dx) = (new float[g.Output.Count], new float[x.Length]);
            PoolBackwardReference.AverageBackward(g, divisor, r, dx);
            double Loss() { PoolReference.Average(g, divisor, x, y); return FiniteDifference.Dot(r, y); }
            FiniteDifference.AssertMatches(dx, FiniteDifference.Gradient(x, Loss, 0.25), 1e-5, $"{c.Name} {divisor}");
        }
    }

    [Test]
    public void BadInputIsRefused()
    {
        var g = SmallCases[0].Geometry;
        var argmax = new int[g.Output.Count];
        Assert.Throws<ArgumentException>(() => PoolBackwardReference.MaxBackward(g, argmax, new float[g.Output.Count - 1], new float[g.Input.Count]));
        Assert.Throws<ArgumentException>(() => PoolBackwardReference.MaxBackward(g, argmax.AsSpan(1), new float[g.Output.Count], new float[g.Input.Count]));
        argmax[3] = g.H * g.W;
        Assert.Throws<ArgumentException>(() => PoolBackwardReference.MaxBackward(g, argmax, new float[g.Output.Count], new float[g.Input.Count]),
            "an argmax outside the plane");
        Assert.Throws<ArgumentException>(() => PoolBackwardReference.AverageBackward(g, (AvgPoolDivisor)7, new float[g.Output.Count], new float[g.Input.Count]));
    }

    // ---- Against torch autograd ----

    public static PoolGeometry TorchGeometry(BackwardCase f)
    {
        var s = f.Shape("x");
        return PoolGeometry.Create(new TensorShape(s[0], s[1], s[2], s[3]), f.Int("kernel"), f.Int("stride"), f.Int("pad"),
            f.Bool("ceil_mode") ? PoolOutputRule.TorchCeil : PoolOutputRule.TorchFloor);
    }

    [TestCase("pool3_ceil")]
    [TestCase("pool5")]
    [TestCase("pool_pad_ceil")]
    public void MaxMatchesTorchAutogradBitForBit(string name)
    {
        // Same argmax rule, same float additions in the same order (torch's CPU backward adds in output order).
        var f = BackwardFixtures.Case(name);
        var g = TorchGeometry(f);
        var (y, argmax, dx) = (new float[g.Output.Count], new int[g.Output.Count], new float[g.Input.Count]);
        PoolBackwardReference.MaxWithArgmax(g, f.F("x"), y, argmax);
        CpuVariants.AssertBits(y, f.F("y"), $"{name}: y");
        Assert.That(argmax, Is.EqualTo(f.I("argmax")), $"{name}: argmax");
        PoolBackwardReference.MaxBackward(g, argmax, f.F("dy"), dx);
        CpuVariants.AssertBits(dx, f.F("dx"), $"{name}: dx");
    }

    [TestCase("avg_pad_ceil", AvgPoolDivisor.PaddedWindow)]
    [TestCase("avg_valid", AvgPoolDivisor.ValidWindow)]
    public void AverageMatchesTorchAutograd(string name, AvgPoolDivisor divisor)
    {
        var f = BackwardFixtures.Case(name);
        var g = TorchGeometry(f);
        var (y, dx) = (new float[g.Output.Count], new float[g.Input.Count]);
        PoolReference.Average(g, divisor, f.F("x"), y);
        GradientAssert.Close(y, f.F("y"), 1e-6, $"{name}: y");
        PoolBackwardReference.AverageBackward(g, divisor, f.F("dy"), dx);
        GradientAssert.Close(dx, f.F("dx"), 1e-6, $"{name}: dx");
    }
}
