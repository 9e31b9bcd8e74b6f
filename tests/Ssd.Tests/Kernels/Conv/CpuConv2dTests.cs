using Ssd.Kernels.Cpu;
using Ssd.Kernels.Conv;
using Ssd.Kernels.Core;

namespace Ssd.Tests.Kernels.Conv;

/// <summary>Every CPU conv path (ISA level x algorithm) against <see cref="Conv2dReference"/>.</summary>
public class CpuConv2dTests
{
    public sealed record Case(string Name, TensorShape Input, int OutC, Conv2dParams P)
    {
        public override string ToString() => Name;
    }

    private static readonly Case[] SmallCases =
    [
        new("odd 7x5 k3 pad1 bias relu", new(1, 3, 7, 5), 5, Conv2dParams.Square(3, pad: 1, fuseRelu: true)),
        new("k1 batch2 no bias", new(2, 4, 5, 6), 6, Conv2dParams.Square(1, hasBias: false)),
        new("k1 odd 13x11 many channels relu", new(1, 37, 13, 11), 19, Conv2dParams.Square(1, fuseRelu: true)),
        new("k1 K blocks: 300 channels", new(1, 300, 7, 9), 10, Conv2dParams.Square(1)),
        new("k5 stride2 pad2", new(1, 2, 9, 11), 4, Conv2dParams.Square(5, stride: 2, pad: 2)),
        new("k3 stride2 no pad, odd edge", new(1, 3, 8, 9), 3, Conv2dParams.Square(3, stride: 2)),
        new("k3 stride2 pad1 batch2 relu", new(2, 16, 19, 19), 24, Conv2dParams.Square(3, stride: 2, pad: 1, fuseRelu: true)),
        new("dilation6 pad6 relu", new(1, 2, 9, 8), 3, Conv2dParams.Square(3, pad: 6, dilation: 6, fuseRelu: true)),
        new("dilation6 pad6 K blocks", new(1, 40, 13, 13), 20, Conv2dParams.Square(3, pad: 6, dilation: 6)),
        new("k1 stride2", new(1, 3, 7, 7), 4, Conv2dParams.Square(1, stride: 2)),
        new("1x3 kernel pad 0x1 batch2 relu", new(2, 3, 4, 6), 2, new Conv2dParams(1, 3, PadW: 1, FuseRelu: true)),
        new("several tiles: M 70, N 81, K 27", new(1, 3, 9, 9), 70, Conv2dParams.Square(3, pad: 1, fuseRelu: true)),
        new("wide row: 1x130 image", new(1, 5, 1, 130), 9, new Conv2dParams(1, 3, PadW: 1)),
        new("K blocks with k3: 33 channels", new(1, 33, 10, 12), 17, Conv2dParams.Square(3, pad: 1, fuseRelu: true)),
        new("k3 s1 wide channels batch2 no bias", new(2, 24, 11, 10), 32, Conv2dParams.Square(3, pad: 1, hasBias: false)),
        new("k3 s1 no pad", new(1, 8, 9, 7), 12, Conv2dParams.Square(3)),
        new("k3 s1 pad2 (bigger than needed)", new(1, 6, 5, 6), 7, Conv2dParams.Square(3, pad: 2, fuseRelu: true)),
        new("groups 2", new(1, 4, 6, 6), 6, Conv2dParams.Square(3, pad: 1, groups: 2)),
        new("groups 2 batch2 k3 s2, 3 channel panels per group (shared im2col)", new(2, 8, 7, 9), 34, Conv2dParams.Square(3, stride: 2, pad: 1, groups: 2)),
        new("groups 2 relu batch2 k1", new(2, 10, 5, 7), 14, Conv2dParams.Square(1, groups: 2, fuseRelu: true)),
        new("depthwise stride2 batch2 relu", new(2, 5, 7, 7), 5, Conv2dParams.Square(3, stride: 2, pad: 1, groups: 5, fuseRelu: true)),
        new("depthwise no bias", new(1, 3, 5, 5), 3, Conv2dParams.Square(3, pad: 1, groups: 3, hasBias: false)),
        new("depthwise multiplier 2", new(1, 3, 6, 5), 6, Conv2dParams.Square(3, pad: 1, groups: 3)),
        new("k3 s1 pad1 wide rows: 5x75 (F(4x4): 19 tiles a row)", new(1, 5, 5, 75), 9, Conv2dParams.Square(3, pad: 1, fuseRelu: true)),
        new("k3 s1 pad1 batch2 odd 38x37", new(2, 8, 38, 37), 12, Conv2dParams.Square(3, pad: 1, fuseRelu: true)),
        new("1x1 image 3x3 pad1 (SSD conv11_2-like)", new(1, 16, 1, 1), 8, Conv2dParams.Square(3, pad: 1)),
    ];

    private static IEnumerable<CpuIsa> Isas => Enum.GetValues<CpuIsa>();

    private static IEnumerable<CpuConvAlgorithm> AlgorithmsFor(Case c)
    {
        yield return CpuConvAlgorithm.Auto;
        yield return CpuConvAlgorithm.Gemm;
        if (CpuConv2d.IsWinogradEligible(c.P)) { yield return CpuConvAlgorithm.Winograd; yield return CpuConvAlgorithm.Winograd4x4; }
        if (CpuConv2d.IsDepthwise(c.P, c.Input.C)) yield return CpuConvAlgorithm.Direct;
    }

    public static IEnumerable<TestCaseData> SmallCasesPaths() =>
        from c in SmallCases
        from isa in Isas
        from alg in AlgorithmsFor(c)
        select new TestCaseData(c, isa, alg).SetArgDisplayNames(c.Name, isa.ToString(), alg.ToString());

    [TestCaseSource(nameof(SmallCasesPaths))]
    public void SmallCaseMatchesReference(Case c, CpuIsa isa, object algorithmCase)
    {
        var algorithm = (CpuConvAlgorithm)algorithmCase; // object: the test method is public, the algorithm type internal
        Assume.That(CpuIsaSupport.IsSupported(isa), $"this CPU lacks {isa}");
        var (x, w, b) = Data(c, seed: 1);
        var expected = Reference(c, x, w, b);
        var actual = Run(c, x, w, b, new CpuConvOptions(isa, algorithm));
        TestData.AssertClose(actual, expected, 1e-4f, 1e-5f, $"{c.Name} {isa} {algorithm}");
    }

    /// <summary>
    /// A training step's refresh: new weights packed into a layer's own buffers (every algorithm, planned for its
    /// input, so a 1x1 map's centre tap too) compute bit for bit what a layer made with them computes, or the layer
    /// says it cannot refill (then the executor makes a new one).
    /// </summary>
    [TestCaseSource(nameof(SmallCasesPaths))]
    public void RefreshedWeightsGiveANewLayersResult(Case c, CpuIsa isa, object algorithmCase)
    {
        var algorithm = (CpuConvAlgorithm)algorithmCase;
        Assume.That(CpuIsaSupport.IsSupported(isa), $"this CPU lacks {isa}");
        var (x, w, b) = Data(c, seed: 1);
        var (_, w2, b2) = Data(c, seed: 2);
        var options = new CpuConvOptions(isa, algorithm, PlannedInput: c.Input);
        var layer = new CpuConv2d(c.P, c.Input.C, c.OutC, w, b, options);
        var before = new float[layer.OutputShape(c.Input).Count];
        layer.Forward(x, c.Input, before);
        if (!layer.TryRefresh(w2, b2))
        {
            Assert.That(algorithm is CpuConvAlgorithm.Winograd or CpuConvAlgorithm.Direct || layer.Algorithm is CpuConvAlgorithm.Winograd or CpuConvAlgorithm.Direct,
                $"{layer.Algorithm}: only F(2x2) and depthwise make a new layer");
            return;
        }
        var refreshed = new float[before.Length];
        refreshed.AsSpan().Fill(float.NaN);
        layer.Forward(x, c.Input, refreshed);
        var fresh = new float[before.Length];
        new CpuConv2d(c.P, c.Input.C, c.OutC, w2, b2, options).Forward(x, c.Input, fresh);
        Assert.That(refreshed, Is.EqualTo(fresh).AsCollection, $"{c.Name} {isa} {algorithm}: refreshed = new layer, bit for bit");
        Assert.That(refreshed, Is.Not.EqualTo(before).AsCollection, "the refresh changed the output");
    }

    [Test]
    public void OddThreadCountsMatchReference([Values(1, 3)] int threads)
    {
        foreach (var c in new[] { SmallCases[6], SmallCases.Single(s => s.Name.StartsWith("k3 s1 pad1 batch2 odd 38x37")) })
        {
            var (x, w, b) = Data(c, seed: 2);
            var expected = Reference(c, x, w, b);
            foreach (var alg in AlgorithmsFor(c))
                TestData.AssertClose(Run(c, x, w, b, new CpuConvOptions(Algorithm: alg, Threads: threads)), expected, 1e-4f, 1e-5f, $"{c.Name} {threads} threads {alg}");
        }
    }

    // Winograd F(4x4) in several tile blocks: a small scratch budget makes blocks of one or two 48-lane panels that
    // start and end mid tile row; every ISA level (vector and scalar transforms), batch 2, odd sizes, pad 0/1/2.
    private static readonly Case[] BlockCases =
    [
        new("F4 blocks 3x40x43 pad1 relu", new(2, 3, 40, 43), 10, Conv2dParams.Square(3, pad: 1, fuseRelu: true)),
        new("F4 blocks 20x29x70 pad0", new(1, 20, 29, 70), 17, Conv2dParams.Square(3)),
        new("F4 blocks 9x23x21 pad2 no bias", new(2, 9, 23, 21), 8, Conv2dParams.Square(3, pad: 2, hasBias: false)),
    ];

    public static IEnumerable<TestCaseData> BlockCasePaths() =>
        from c in BlockCases
        from isa in Isas
        from budget in new long[] { 1, 36L * 100 * 48 }
        select new TestCaseData(c, isa, budget).SetArgDisplayNames(c.Name, isa.ToString(), $"budget {budget}");

    [TestCaseSource(nameof(BlockCasePaths))]
    public void Winograd4x4BlocksMatchReference(Case c, CpuIsa isa, long budget)
    {
        Assume.That(CpuIsaSupport.IsSupported(isa), $"this CPU lacks {isa}");
        var (x, w, b) = Data(c, seed: 5);
        var expected = Reference(c, x, w, b);
        var conv = new Winograd4x4Conv(c.P, c.Input.C, c.OutC, w, b, MicroKernel.For(isa), threads: 2, scratchBudget: budget);
        var ys = c.P.OutputShape(c.Input, c.OutC);
        var y = new float[ys.Count];
        y.AsSpan().Fill(float.NaN);
        conv.Forward(x, c.Input, y, ys);
        TestData.AssertClose(y, expected, 1e-4f, 1e-5f, $"{c.Name} {isa} budget {budget}");
    }

    [Test]
    public void RepeatedForwardGivesTheSameResult()
    {
        // The scratch buffers are reused between calls: a second call must not see the first one's leftovers.
        var c = SmallCases[13];
        var (x, w, b) = Data(c, seed: 3);
        foreach (var alg in AlgorithmsFor(c))
        {
            var layer = new CpuConv2d(c.P, c.Input.C, c.OutC, w, b, new CpuConvOptions(Algorithm: alg));
            var y1 = new float[layer.OutputShape(c.Input).Count];
            var y2 = new float[y1.Length];
            layer.Forward(x, c.Input, y1);
            layer.Forward(x, c.Input, y2);
            Assert.That(y2, Is.EqualTo(y1), alg.ToString());
        }
    }

    // SSD300 layers at real sizes on the best ISA. The double-precision reference costs minutes for a whole layer on
    // this machine, so it computes a spread of ~8 output planes (first, last and evenly spaced) and only those are compared.
    private static readonly Case[] RealCases =
    [
        new("conv4_3", new(1, 512, 38, 38), 512, Conv2dParams.Square(3, pad: 1, fuseRelu: true)),
        new("fc6", new(1, 512, 19, 19), 1024, Conv2dParams.Square(3, pad: 6, dilation: 6, fuseRelu: true)),
        new("fc7", new(1, 1024, 19, 19), 1024, Conv2dParams.Square(1, fuseRelu: true)),
        new("conv8_2", new(1, 256, 19, 19), 512, Conv2dParams.Square(3, stride: 2, pad: 1, fuseRelu: true)),
    ];

    [TestCaseSource(nameof(RealCases))]
    public void RealSizeMatchesReference(Case c)
    {
        var (x, w, b) = Data(c, seed: 4);
        var ys = c.P.OutputShape(c.Input, c.OutC);
        int step = Math.Max(1, c.OutC / 8);
        var planes = Enumerable.Range(0, c.OutC).Where(o => o % step == 0 || o == c.OutC - 1).ToArray();
        var expected = new float[ys.Count];
        Parallel.ForEach(planes, o => Conv2dReference.ForwardPlane(x, c.Input, w, b, c.P, c.OutC, 0, o, expected));
        foreach (var alg in AlgorithmsFor(c))
        {
            var actual = Run(c, x, w, b, new CpuConvOptions(Algorithm: alg));
            double maxErr = 0, maxRef = 0;
            foreach (int o in planes)
                for (int i = o * ys.PlaneSize; i < (o + 1) * ys.PlaneSize; i++)
                    (maxErr, maxRef) = (Math.Max(maxErr, Math.Abs(actual[i] - expected[i])), Math.Max(maxRef, Math.Abs(expected[i])));
            TestContext.Out.WriteLine($"{c.Name} {alg}: max |error| {maxErr:E2}, max |y| {maxRef:F3}, ratio {maxErr / maxRef:E2}");
            foreach (int o in planes)
                TestData.AssertClose(actual.AsSpan(o * ys.PlaneSize, ys.PlaneSize), expected.AsSpan(o * ys.PlaneSize, ys.PlaneSize),
                    1e-4f, 1e-4f, $"{c.Name} {alg} plane {o}");
        }
    }

    [Test]
    public void AutoPicksWinograd4x4WhereItDoesLessWork()
    {
        var p = Conv2dParams.Square(3, pad: 1, fuseRelu: true);
        var wide = new CpuConv2d(p, 64, 64, new float[64 * 64 * 9], new float[64]);
        Assert.That(wide.Algorithm, Is.EqualTo(CpuConvAlgorithm.Auto));
        Assert.That(wide.AlgorithmFor(new TensorShape(1, 64, 38, 38)), Is.EqualTo(CpuConvAlgorithm.Winograd4x4));
        Assert.That(wide.AlgorithmFor(new TensorShape(1, 64, 19, 19)), Is.EqualTo(CpuConvAlgorithm.Winograd4x4));
        Assert.That(wide.AlgorithmFor(new TensorShape(1, 64, 3, 3)), Is.EqualTo(CpuConvAlgorithm.Gemm), "one tile in a whole panel");
        Assert.That(new CpuConv2d(p, 3, 64, new float[3 * 64 * 9], new float[64]).Algorithm, Is.EqualTo(CpuConvAlgorithm.Gemm), "3 input channels");
        Assert.That(new CpuConv2d(Conv2dParams.Square(3, pad: 6, dilation: 6), 64, 64, new float[64 * 64 * 9], new float[64]).Algorithm,
            Is.EqualTo(CpuConvAlgorithm.Gemm), "dilated");
    }

    /// <summary>
    /// A layer planned for a 1x1 map runs the one tap that sees the pixel as a 1x1 conv: bit for bit the full 3x3 GEMM
    /// (the other taps only add products with the zero padding), at every ISA level; batches, groups, fc6's dilation.
    /// </summary>
    [TestCase(256, 364, 1, 1, 1, false, 1)] // SSD300's last conf head
    [TestCase(256, 16, 1, 1, 3, true, 1)] // a loc head, batch 3, with ReLU
    [TestCase(40, 24, 6, 6, 2, false, 1)] // fc6's dilation 6 and pad 6
    [TestCase(40, 24, 1, 1, 1, true, 2)] // groups
    public void OneByOneMapRunsItsCentreTap(int inC, int outC, int pad, int dilation, int batch, bool relu, int groups)
    {
        var p = Conv2dParams.Square(3, pad: pad, dilation: dilation, groups: groups, fuseRelu: relu);
        var c = new Case("centre", new TensorShape(batch, inC, 1, 1), outC, p);
        Assert.That(CpuConv2d.OnlyTap(p, c.Input, outC), Is.EqualTo(((int, int)?)(1, 1)));
        var (x, w, b) = Data(c, seed: inC + outC);
        foreach (var isa in Isas.Where(CpuIsaSupport.IsSupported))
        {
            var planned = new CpuConv2d(p, inC, outC, w, b, new CpuConvOptions(isa, Threads: 2, PlannedInput: c.Input));
            var full = new CpuConv2d(p, inC, outC, w, b, new CpuConvOptions(isa, CpuConvAlgorithm.Gemm, Threads: 2));
            var expected = new float[batch * outC];
            var actual = new float[batch * outC];
            full.Forward(x, c.Input, expected);
            planned.Forward(x, c.Input, actual);
            Assert.That(actual.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(expected.Select(BitConverter.SingleToInt32Bits)), isa.ToString());
        }
        Assert.That(CpuConv2d.OnlyTap(Conv2dParams.Square(3), new TensorShape(1, 4, 3, 3), 8), Is.Null, "a 3x3 map: every tap sees data");
        Assert.That(CpuConv2d.OnlyTap(Conv2dParams.Square(3, pad: 1, dilation: 2), new TensorShape(1, 4, 1, 1), 8), Is.Null, "no tap on the pixel");
    }

    [Test]
    public void BadInputIsRefusedWithAClearMessage()
    {
        var p = Conv2dParams.Square(3, pad: 1);
        Assert.That(() => new CpuConv2d(p, 4, 8, new float[10], new float[8]),
            Throws.ArgumentException.With.Message.Contains("weight has 10 elements"));
        Assert.That(() => new CpuConv2d(p, 4, 8, new float[288], new float[7]),
            Throws.ArgumentException.With.Message.Contains("bias has 7 elements"));
        Assert.That(() => new CpuConv2d(Conv2dParams.Square(3, stride: 2), 4, 8, new float[288], new float[8], new CpuConvOptions(Algorithm: CpuConvAlgorithm.Winograd)),
            Throws.ArgumentException.With.Message.Contains("Winograd"));
        Assert.That(() => new CpuConv2d(Conv2dParams.Square(3, pad: 1, dilation: 2), 4, 8, new float[288], new float[8], new CpuConvOptions(Algorithm: CpuConvAlgorithm.Winograd4x4)),
            Throws.ArgumentException.With.Message.Contains("Winograd"));
        Assert.That(() => new CpuConv2d(p, 4, 8, new float[288], new float[8], new CpuConvOptions(Algorithm: CpuConvAlgorithm.Direct)),
            Throws.ArgumentException.With.Message.Contains("depthwise"));
        var layer = new CpuConv2d(p, 4, 8, new float[288], new float[8]);
        Assert.That(() => layer.Forward(new float[3 * 5 * 5], new TensorShape(1, 3, 5, 5), new float[8 * 25]),
            Throws.ArgumentException.With.Message.Contains("3 channels"));
        Assert.That(() => layer.Forward(new float[4 * 5 * 5], new TensorShape(1, 4, 5, 5), new float[10]),
            Throws.ArgumentException.With.Message.Contains("output has 10 elements"));
    }

    /// <summary>VGG-like data: inputs in [0, 1) (post-ReLU), weights scaled by 1/sqrt(fan-in) so outputs stay O(1).</summary>
    private static (float[] X, float[] W, float[] B) Data(Case c, int seed)
    {
        int fanIn = c.Input.C / c.P.Groups * c.P.KernelH * c.P.KernelW;
        float scale = 1f / MathF.Sqrt(fanIn);
        var x = TestData.Uniform(seed, c.Input.Count, 0f, 1f);
        var w = TestData.Uniform(seed + 1, c.P.WeightCount(c.Input.C, c.OutC), -scale, scale);
        var b = c.P.HasBias ? TestData.Uniform(seed + 2, c.OutC, -0.1f, 0.1f) : [];
        return (x, w, b);
    }


    private static float[] Reference(Case c, float[] x, float[] w, float[] b)
    {
        var ys = c.P.OutputShape(c.Input, c.OutC);
        var y = new float[ys.Count];
        c.P.CheckLengths(c.Input, c.OutC, x.Length, w.Length, b.Length, y.Length);
        Parallel.For(0, ys.N * ys.C, i => Conv2dReference.ForwardPlane(x, c.Input, w, b, c.P, c.OutC, i / ys.C, i % ys.C, y));
        return y;
    }

    private static float[] Run(Case c, float[] x, float[] w, float[] b, CpuConvOptions options)
    {
        var layer = new CpuConv2d(c.P, c.Input.C, c.OutC, w, b, options);
        var y = new float[layer.OutputShape(c.Input).Count];
        y.AsSpan().Fill(float.NaN); // every output element must be written
        layer.Forward(x, c.Input, y);
        return y;
    }
}
