using System.Diagnostics;
using ILGPU.Runtime;
using Ssd.Kernels.Conv;
using Ssd.Kernels.Core;
using Ssd.Tests.Kernels.Backward;
using static Ssd.Tests.Kernels.Conv.Conv2dBackwardTests;

namespace Ssd.Tests.Kernels.Conv;

/// <summary>
/// The ILGPU gradient kernels (<see cref="Conv2dBackwardOp"/>) against <see cref="Conv2dBackwardReference"/>: every
/// variant on the CPU simulator (small shapes) and on PoCL (small shapes and SSD300's layers from the torch fixtures).
/// The kernels sum in float in their own order, the reference in double: a normalised error bound.
/// </summary>
public class Conv2dBackwardKernelTests
{
    /// <summary>Float sums of up to ~20 000 terms against double sums: a few 1e-7 normalised.</summary>
    public const double Bound = 1e-5;

    public static IEnumerable<TestCaseData> SmallCasesByVariant() =>
        from c in SmallCases
        from v in new[] { Conv2dBackwardVariant.Naive, Conv2dBackwardVariant.Tiled }
        where v == Conv2dBackwardVariant.Naive || c.P.Groups == 1
        select new TestCaseData(c, v).SetArgDisplayNames(c.Name, v.ToString());

    public static IEnumerable<Case> Small => SmallCases;

    [TestCaseSource(nameof(Small))]
    public void NaiveMatchesReferenceOnCpuSim(Case c) => CompareSmall(TestDevices.CpuSim, c, Conv2dBackwardVariant.Naive);

    [TestCaseSource(nameof(SmallCasesByVariant))]
    // The variant is passed as object: the test method is public, the variant type internal to Ssd.Kernels.
    public void MatchesReferenceOnOpenCL(Case c, object variant) => CompareSmall(TestDevices.OpenCL, c, (Conv2dBackwardVariant)variant);

    [Test]
    public void TiledMatchesReferenceOnCpuSim()
    {
        // One tile, two K chunks: the GEMM body's barriers and edges, on the simulator's real group semantics.
        CompareSmall(TestDevices.CpuSim, SmallCases[0], Conv2dBackwardVariant.Tiled);
    }

    [Test]
    public void FusedReluOnOpenCL()
    {
        var c = SmallCases[0] with { P = Conv2dParams.Square(3, pad: 1, fuseRelu: true) };
        CompareSmall(TestDevices.OpenCL, c, Conv2dBackwardVariant.Auto);
    }

    [Test]
    public void FusedReluMaskLetsANaNOutputThroughOnEveryBackend([ValueSource(typeof(TestDevices), nameof(TestDevices.Backends))] BackendKind backend)
    {
        // y with NaN, zeros of both signs and infinities (not a forward's output, the mask's own rule: y <= 0 stops dy).
        var c = SmallCases[0] with { P = Conv2dParams.Square(3, pad: 1, fuseRelu: true) };
        var (x, w, _, r) = CaseData(c, seed: 31);
        var y = CpuVariants.Spiky(32, c.Output.Count);
        var (ex, ew, eb) = (new float[x.Length], new float[w.Length], new float[c.OutC]);
        Conv2dBackwardReference.Backward(x, c.Input, w, c.P, c.OutC, y, r, ex, ew, eb);
        var (ax, aw, ab) = RunOnDevice(TestDevices.Get(backend), c.Input, c.OutC, c.P, x, w, y, r, Conv2dBackwardVariant.Naive);
        GradientAssert.Close(ax, ex, Bound, "dx");
        GradientAssert.Close(aw, ew, Bound, "dw");
        GradientAssert.Close(ab, eb, Bound, "db");
    }

    [Test]
    public void TiledRefusesGroups()
    {
        var device = TestDevices.CpuSim;
        var c = SmallCases.First(s => s.P.Groups == 2);
        using var b = device.Allocate(c.Input.Count);
        using var w = device.Allocate(c.P.WeightCount(c.Input.C, c.OutC));
        using var g = device.Allocate(c.Output.Count);
        using var op = new Conv2dBackwardOp(device);
        Assert.That(() => op.InputGradient(g.View, c.Input, w.View, c.P, c.OutC, b.View, Conv2dBackwardVariant.Tiled),
            Throws.ArgumentException.With.Message.Contains("groups == 1"));
    }

    [Test]
    public void WeightSplitsCoverTheReductionOnce()
    {
        using var op = new Conv2dBackwardOp(TestDevices.CpuSim);
        foreach (var (input, outC, p) in new[] {
            (new TensorShape(8, 3, 300, 300), 64, Conv2dParams.Square(3, pad: 1)),
            (new TensorShape(8, 512, 38, 38), 512, Conv2dParams.Square(3, pad: 1)),
            (new TensorShape(1, 16, 1, 1), 8, Conv2dParams.Square(3, pad: 1)) })
        {
            var g = new Conv2dGeometry(input, p.OutputShape(input, outC), p);
            var (splits, chunk) = op.Splits(g);
            int k = g.N * g.OutPlane;
            Assert.That(chunk % TiledGemm.TileK, Is.Zero, $"{input}: chunk {chunk} is whole K steps");
            Assert.That((long)splits * chunk, Is.GreaterThanOrEqualTo(k), $"{input}: the splits cover all {k} columns");
            Assert.That((long)(splits - 1) * chunk, Is.LessThan(k), $"{input}: no empty split");
        }
    }

    private static void CompareSmall(ComputeDevice device, Case c, Conv2dBackwardVariant variant)
    {
        var (x, w, b, r) = CaseData(c, seed: 29);
        float[] y = [];
        if (c.P.FuseRelu)
        {
            y = new float[c.Output.Count];
            Conv2dReference.Forward(x, c.Input, w, b, c.P, c.OutC, y);
        }
        var (ex, ew, eb) = (new float[x.Length], new float[w.Length], new float[c.OutC]);
        Conv2dBackwardReference.Backward(x, c.Input, w, c.P, c.OutC, y, r, ex, ew, eb);
        var (ax, aw, ab) = RunOnDevice(device, c.Input, c.OutC, c.P, x, w, y, r, variant);
        GradientAssert.Close(ax, ex, Bound, $"{c.Name} {variant} on {device.Kind}: dx");
        GradientAssert.Close(aw, ew, Bound, $"{c.Name} {variant} on {device.Kind}: dw");
        if (c.P.HasBias) GradientAssert.Close(ab, eb, Bound, $"{c.Name} {variant} on {device.Kind}: db");
    }

    internal static (float[] Dx, float[] Dw, float[] Db) RunOnDevice(ComputeDevice device, TensorShape input, int outC, Conv2dParams p,
        float[] x, float[] w, float[] y, float[] dy, Conv2dBackwardVariant variant)
    {
        using var bx = device.Upload(x);
        using var bw = device.Upload(w);
        using var by = device.Upload(y.Length > 0 ? y : [0f]);
        using var bdy = device.Upload(dy);
        using var bdx = device.Allocate(x.Length);
        using var bdw = device.Allocate(w.Length);
        using var bdb = device.Allocate(outC);
        using var op = new Conv2dBackwardOp(device);
        var clock = Stopwatch.StartNew();
        op.Backward(bx.View, input, bw.View, p, outC, by.View.SubView(0, y.Length), bdy.View, bdx.View, bdw.View, bdb.View, variant);
        device.Synchronize();
        TestContext.Out.WriteLine($"{input} -> {outC} {variant} on {device.Kind}: {clock.Elapsed.TotalMilliseconds:F0} ms (first launch includes kernel load)");
        return (bdx.GetAsArray1D(), bdw.GetAsArray1D(), bdb.GetAsArray1D());
    }

    // ---- SSD300's layers on PoCL, against the reference on the torch fixtures' inputs ----

    public static IEnumerable<TestCaseData> TorchLayersByVariant() =>
        from name in TorchCases
        from v in new[] { Conv2dBackwardVariant.Naive, Conv2dBackwardVariant.Tiled }
        where v == Conv2dBackwardVariant.Tiled || name is "depthwise_s2" or "grouped" or "conv10_2" or "conv8_2"
        select new TestCaseData(name, v).SetArgDisplayNames(name, v.ToString());

    [TestCaseSource(nameof(TorchLayersByVariant))]
    public void SsdLayerMatchesReferenceOnOpenCL(string name, object variantCase)
    {
        var variant = (Conv2dBackwardVariant)variantCase; // object: the test method is public, the variant type internal
        var device = TestDevices.OpenCL;
        var l = Layer(name);
        if (l.P.Groups != 1) variant = Conv2dBackwardVariant.Naive;
        var r = ReferenceGradients(name);
        var (dx, dw, db) = RunOnDevice(device, l.Input, l.OutC, l.P, l.Fixture.F("x"), l.Fixture.F("w"), l.Fixture.F("y"), l.Fixture.F("dy"), variant);
        GradientAssert.Close(r.DxSample(l, dx), r.DxSample(l, r.Dx), Bound, $"{name} {variant}: dx");
        GradientAssert.Close(r.DwSample(l, dw), r.DwSample(l, r.Dw), Bound, $"{name} {variant}: dw");
        if (l.P.HasBias) GradientAssert.Close(db, r.Db, Bound, $"{name} {variant}: db");
    }
}
