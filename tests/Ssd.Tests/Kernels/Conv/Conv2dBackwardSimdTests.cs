using Ssd.Kernels.Conv;
using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;
using Ssd.Tests.Kernels.Backward;
using static Ssd.Tests.Kernels.Conv.Conv2dBackwardTests;

namespace Ssd.Tests.Kernels.Conv;

/// <summary>
/// <see cref="Conv2dBackwardSimd"/> against <see cref="Conv2dBackwardReference"/> with every ISA level forced (where
/// this CPU runs it), on small shapes of every kind and on SSD300's layers from the torch fixtures; and its results
/// independent of the thread count. It sums in float on the micro-kernels' FMAs, the reference in double: a bound.
/// </summary>
public class Conv2dBackwardSimdTests
{
    public const double Bound = 1e-5;

    /// <summary>Beyond <see cref="Conv2dBackwardTests.SmallCases"/>: several channel blocks, column tiles, pixel blocks and reduction splits.</summary>
    public static readonly Case[] WiderCases =
    [
        new("k3 pad1 37 channels, 11x13, batch 3 (channel blocks, short panels)", new(3, 37, 11, 13), 29, Conv2dParams.Square(3, pad: 1)),
        new("k1 70 -> 50 on 17x9 (1x1 panels)", new(2, 70, 17, 9), 50, Conv2dParams.Square(1)),
        new("k3 s2 p1 24 -> 40 on 19x19, relu", new(2, 24, 19, 19), 40, Conv2dParams.Square(3, stride: 2, pad: 1, fuseRelu: true)),
        new("k3 d6 p6 16 -> 24 on 19x19 (fc6-like)", new(1, 16, 19, 19), 24, Conv2dParams.Square(3, pad: 6, dilation: 6)),
        new("conv1_1-like: 3 -> 16 on 40x40, batch 2 (reduction splits)", new(2, 3, 40, 40), 16, Conv2dParams.Square(3, pad: 1, fuseRelu: true)),
        new("groups 4, 32 -> 48 on 9x9", new(2, 32, 9, 9), 48, Conv2dParams.Square(3, pad: 1, groups: 4)),
        new("depthwise 16 on 10x10 s1", new(1, 16, 10, 10), 16, Conv2dParams.Square(3, pad: 1, groups: 16)),
    ];

    public static IEnumerable<TestCaseData> CasesByIsa() =>
        from c in SmallCases.Concat(WiderCases)
        from isa in CpuVariants.Isas
        select new TestCaseData(c, isa).SetArgDisplayNames(c.Name, isa.ToString());

    [TestCaseSource(nameof(CasesByIsa))]
    public void MatchesReference(Case c, CpuIsa isa)
    {
        var options = CpuVariants.Options(isa);
        var (x, w, b, r) = CaseData(c, seed: 37);
        float[] y = [];
        if (c.P.FuseRelu)
        {
            y = new float[c.Output.Count];
            Conv2dReference.Forward(x, c.Input, w, b, c.P, c.OutC, y);
        }
        var (ex, ew, eb) = (new float[x.Length], new float[w.Length], new float[c.OutC]);
        Conv2dBackwardReference.Backward(x, c.Input, w, c.P, c.OutC, y, r, ex, ew, eb);
        var (ax, aw, ab) = (new float[x.Length], new float[w.Length], new float[c.OutC]);
        new Conv2dBackwardSimd(c.P, c.Input.C, c.OutC, options).Backward(x, c.Input, w, y, r, ax, aw, ab);
        GradientAssert.Close(ax, ex, Bound, $"{c.Name} {isa}: dx");
        GradientAssert.Close(aw, ew, Bound, $"{c.Name} {isa}: dw");
        if (c.P.HasBias) GradientAssert.Close(ab, eb, Bound, $"{c.Name} {isa}: db");
    }

    [Test]
    public void ThreadCountDoesNotChangeABit()
    {
        foreach (var c in WiderCases)
        {
            var (x, w, _, r) = CaseData(c, seed: 41);
            var y = c.P.FuseRelu ? r.Select(v => v + 0.3f).ToArray() : [];
            float[][] Run(int threads)
            {
                var (dx, dw, db) = (new float[x.Length], new float[w.Length], new float[c.OutC]);
                var layer = new Conv2dBackwardSimd(c.P, c.Input.C, c.OutC, new CpuOpOptions(Threads: threads));
                layer.Backward(x, c.Input, w, y, r, dx, dw, db);
                layer.Backward(x, c.Input, w, y, r, dx, dw, db); // reused scratch
                return [dx, dw, db];
            }
            var one = Run(1);
            foreach (int threads in new[] { 2, 3 })
            {
                var other = Run(threads);
                for (int i = 0; i < 3; i++) CpuVariants.AssertBits(other[i], one[i], $"{c.Name}: {threads} threads, gradient {i}");
            }
        }
    }

    [Test]
    public void BadInputIsRefused()
    {
        var c = SmallCases[0];
        var layer = new Conv2dBackwardSimd(c.P, c.Input.C, c.OutC);
        var (x, w, _, r) = CaseData(c, seed: 1);
        Assert.Throws<ArgumentException>(() => layer.InputGradient(r, c.Input with { C = c.Input.C + 1 }, w, new float[x.Length]));
        Assert.Throws<ArgumentException>(() => layer.InputGradient(r.AsSpan(1), c.Input, w, new float[x.Length]));
        Assert.Throws<ArgumentException>(() => layer.WeightGradient(x, c.Input, r, new float[w.Length + 1]));
        Assert.Throws<ArgumentException>(() => layer.BiasGradient(r, c.Output, new float[c.OutC - 1]));
        var fused = new Conv2dBackwardSimd(c.P with { FuseRelu = true }, c.Input.C, c.OutC);
        Assert.Throws<ArgumentException>(() => fused.Backward(x, c.Input, w, [], r, new float[x.Length], new float[w.Length], new float[c.OutC]));
        Assert.Throws<ArgumentException>(() => new Conv2dBackwardSimd(c.P, 3, 5, new CpuOpOptions(Threads: 0)));
    }

    public static IEnumerable<TestCaseData> TorchLayersByIsa() =>
        from name in TorchCases
        from isa in CpuVariants.Isas
        where isa != CpuIsa.Portable || name is "conv4_3_conf" or "conv8_2" or "grouped"
        select new TestCaseData(name, isa).SetArgDisplayNames(name, isa.ToString());

    [TestCaseSource(nameof(TorchLayersByIsa))]
    public void SsdLayerMatchesReference(string name, CpuIsa isa)
    {
        var options = CpuVariants.Options(isa);
        var l = Layer(name);
        var r = ReferenceGradients(name);
        var (x, w) = (l.Fixture.F("x"), l.Fixture.F("w"));
        var (dx, dw, db) = (new float[x.Length], new float[w.Length], new float[l.OutC]);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        new Conv2dBackwardSimd(l.P, l.Input.C, l.OutC, options).Backward(x, l.Input, w, l.Fixture.F("y"), l.Fixture.F("dy"), dx, dw, db);
        TestContext.Out.WriteLine($"{name} {isa}: {clock.Elapsed.TotalMilliseconds:F0} ms (shared machine; first call allocates scratch)");
        GradientAssert.Close(r.DxSample(l, dx), r.DxSample(l, r.Dx), Bound, $"{name} {isa}: dx");
        GradientAssert.Close(r.DwSample(l, dw), r.DwSample(l, r.Dw), Bound, $"{name} {isa}: dw");
        if (l.P.HasBias) GradientAssert.Close(db, r.Db, Bound, $"{name} {isa}: db");
    }
}
