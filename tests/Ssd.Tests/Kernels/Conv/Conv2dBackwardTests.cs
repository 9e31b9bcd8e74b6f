using Ssd.Kernels.Activation;
using Ssd.Kernels.Conv;
using Ssd.Kernels.Core;
using Ssd.Tests.Kernels.Backward;

namespace Ssd.Tests.Kernels.Conv;

/// <summary>
/// <see cref="Conv2dBackwardReference"/> against finite differences on small shapes of every kind, and against torch
/// autograd on SSD300's layers (tools/fixtures/make_backward_fixtures.py).
/// </summary>
public class Conv2dBackwardTests
{
    public sealed record Case(string Name, TensorShape Input, int OutC, Conv2dParams P)
    {
        public TensorShape Output => P.OutputShape(Input, OutC);
        public override string ToString() => Name;
    }

    public static readonly Case[] SmallCases =
    [
        new("k3 pad1 bias", new(2, 3, 6, 5), 4, Conv2dParams.Square(3, pad: 1)),
        new("k1 no bias", new(2, 5, 4, 3), 3, Conv2dParams.Square(1, hasBias: false)),
        new("k3 stride2 pad1 odd", new(1, 3, 7, 8), 5, Conv2dParams.Square(3, stride: 2, pad: 1)),
        new("k3 stride2 no pad", new(2, 2, 7, 7), 3, Conv2dParams.Square(3, stride: 2)),
        new("k5 stride3 pad2", new(1, 2, 9, 10), 2, Conv2dParams.Square(5, stride: 3, pad: 2)),
        new("dilation2 pad2", new(1, 3, 7, 6), 4, Conv2dParams.Square(3, pad: 2, dilation: 2)),
        new("dilation3 pad3 (taps past the edge)", new(1, 2, 5, 5), 3, Conv2dParams.Square(3, pad: 3, dilation: 3)),
        new("groups 2", new(2, 4, 5, 5), 6, Conv2dParams.Square(3, pad: 1, groups: 2)),
        new("depthwise stride2", new(1, 3, 6, 7), 3, Conv2dParams.Square(3, stride: 2, pad: 1, groups: 3)),
        new("depthwise multiplier 2", new(1, 2, 5, 4), 4, Conv2dParams.Square(3, pad: 1, groups: 2)),
        new("1x3 kernel, pad 0x1, stride 1x2", new(1, 2, 4, 7), 3, new Conv2dParams(1, 3, StrideW: 2, PadW: 1)),
        new("3x3 on 1x1 (SSD's last extras)", new(2, 4, 1, 1), 3, Conv2dParams.Square(3, pad: 1)),
    ];

    internal static (float[] X, float[] W, float[] B, float[] R) CaseData(Case c, int seed)
    {
        var x = TestData.Uniform(seed, c.Input.Count);
        var w = TestData.Uniform(seed + 1, c.P.WeightCount(c.Input.C, c.OutC), -0.5f, 0.5f);
        var b = TestData.Uniform(seed + 2, c.OutC, -0.2f, 0.2f);
        var r = TestData.Uniform(seed + 3, c.Output.Count);
        return (x, w, b, r);
    }

    [TestCaseSource(nameof(SmallCases))]
    public void ReferenceMatchesFiniteDifferences(Case c)
    {
        var (x, w, b, r) = CaseData(c, seed: 17);
        var y = new float[c.Output.Count];
        double Loss()
        {
            Conv2dReference.Forward(x, c.Input, w, c.P.HasBias ? b : [], c.P, c.OutC, y);
            return FiniteDifference.Dot(r, y);
        }
        var dx = new float[x.Length];
        var dw = new float[w.Length];
        var db = new float[c.OutC];
        Conv2dBackwardReference.Backward(x, c.Input, w, c.P, c.OutC, [], r, dx, dw, db);
        // The loss is linear in x, in w and in b: a large step is exact up to the forward's rounding.
        FiniteDifference.AssertMatches(dx, FiniteDifference.Gradient(x, Loss, 0.25), 1e-5, $"{c.Name}: dx");
        FiniteDifference.AssertMatches(dw, FiniteDifference.Gradient(w, Loss, 0.25), 1e-5, $"{c.Name}: dw");
        if (c.P.HasBias) FiniteDifference.AssertMatches(db, FiniteDifference.Gradient(b, Loss, 0.25), 1e-5, $"{c.Name}: db");
    }

    [Test]
    public void FusedReluMasksTheGradientByTheOutput()
    {
        var c = SmallCases[0] with { P = Conv2dParams.Square(3, pad: 1, fuseRelu: true) };
        var (x, w, b, r) = CaseData(c, seed: 5);
        var y = new float[c.Output.Count];
        Conv2dReference.Forward(x, c.Input, w, b, c.P, c.OutC, y);
        Assert.That(y.Count(v => v == 0), Is.InRange(y.Length / 5, 4 * y.Length / 5), "the ReLU clamps a fair share of the outputs");
        var (dx, dw, db) = (new float[x.Length], new float[w.Length], new float[c.OutC]);
        Conv2dBackwardReference.Backward(x, c.Input, w, c.P, c.OutC, y, r, dx, dw, db);

        var masked = new float[r.Length];
        for (int i = 0; i < r.Length; i++) masked[i] = y[i] > 0 ? r[i] : 0;
        var (ex, ew, eb) = (new float[x.Length], new float[w.Length], new float[c.OutC]);
        var plain = c.P with { FuseRelu = false };
        Conv2dBackwardReference.Backward(x, c.Input, w, plain, c.OutC, [], masked, ex, ew, eb);
        CpuVariants.AssertBits(dx, ex, "dx");
        CpuVariants.AssertBits(dw, ew, "dw");
        CpuVariants.AssertBits(db, eb, "db");
    }

    [Test]
    public void ReluBackwardIsTorchsBitForBit()
    {
        // The fused ReLU's mask is ReLU's backward: against torch's threshold_backward on conv4_3's size.
        var f = BackwardFixtures.Case("relu4_3");
        var dx = new float[f.F("x").Length];
        ReluBackwardReference.Backward(f.F("y"), f.F("dy"), dx);
        CpuVariants.AssertBits(dx, f.F("dx"), "dx");
    }

    [Test]
    public void BadInputIsRefused()
    {
        var c = SmallCases[0];
        var (x, w, b, r) = CaseData(c, seed: 1);
        var (dx, dw, db) = (new float[x.Length], new float[w.Length], new float[c.OutC]);
        Assert.Throws<ArgumentException>(() => Conv2dBackwardReference.Backward(x, c.Input, w, c.P, c.OutC, [], r.AsSpan(1), dx, dw, db));
        Assert.Throws<ArgumentException>(() => Conv2dBackwardReference.Backward(x, c.Input, w.AsSpan(1), c.P, c.OutC, [], r, dx, dw, db));
        Assert.Throws<ArgumentException>(() => Conv2dBackwardReference.InputGradient(r, c.Input, w, c.P, c.OutC, dx.AsSpan(1)));
        Assert.Throws<ArgumentException>(() => Conv2dBackwardReference.BiasGradient(r, c.Output, db.AsSpan(1)));
        var fused = c.P with { FuseRelu = true };
        Assert.Throws<ArgumentException>(() => Conv2dBackwardReference.Backward(x, c.Input, w, fused, c.OutC, [], r, dx, dw, db),
            "a fused ReLU without the output y");
    }

    // ---- Against torch autograd at SSD300's layer sizes ----

    public static readonly string[] TorchCases =
        ["conv1_1", "conv4_3", "fc6", "conv4_3_conf", "conv8_1", "conv8_2", "conv10_2", "depthwise_s2", "grouped"];

    /// <summary>A fixture case as a layer: shapes, parameters, tensors.</summary>
    public sealed record TorchLayer(BackwardCase Fixture, TensorShape Input, int OutC, Conv2dParams P)
    {
        public TensorShape Output => P.OutputShape(Input, OutC);
    }

    public static TorchLayer Layer(string name)
    {
        var f = BackwardFixtures.Case(name);
        var s = f.Shape("x");
        var p = Conv2dParams.Square(f.Int("kernel"), f.Int("stride"), f.Int("pad"), f.Int("dilation"), f.Int("groups"),
            f.Bool("bias"), f.Bool("relu"));
        return new TorchLayer(f, new TensorShape(s[0], s[1], s[2], s[3]), f.Int("out_channels"), p);
    }

    /// <summary>
    /// The channels compared on SSD-sized layers: all of them up to 128, else a sample (every 37th plus the first, last and
    /// those either side of each 64-channel tile edge), as the forward's kernel tests do: the plain reference of a whole
    /// 3.4-GMAC gradient takes minutes on a shared test machine. Every sampled plane or weight row is compared whole.
    /// </summary>
    public static int[] Sampled(int count) =>
        count <= 128 ? Enumerable.Range(0, count).ToArray()
        : Enumerable.Range(0, count).Where(o => o % 37 == 0 || o % 64 is 0 or 1 or 63 || o == count - 1).ToArray();

    /// <summary>The reference gradients of a fixture layer on the sampled channels; computed once per run, in parallel.</summary>
    public sealed record Gradients(float[] Dx, float[] Dw, float[] Db, int[] InputChannels, int[] OutputChannels)
    {
        /// <summary>The sampled dx planes of <paramref name="dx"/>, concatenated.</summary>
        public float[] DxSample(TorchLayer l, float[] dx) => Slices(dx, l.Input.N, l.Input.C, l.Input.PlaneSize, InputChannels);

        /// <summary>The sampled dw rows of <paramref name="dw"/>, concatenated.</summary>
        public float[] DwSample(TorchLayer l, float[] dw) => Slices(dw, 1, l.OutC, dw.Length / l.OutC, OutputChannels);

        private static float[] Slices(float[] a, int n, int channels, int size, int[] picked) =>
            (from b in Enumerable.Range(0, n) from c in picked select a.AsSpan((b * channels + c) * size, size).ToArray()).SelectMany(v => v).ToArray();
    }

    public static Gradients ReferenceGradients(string name) => BackwardFixtures.Cached($"conv:{name}", () =>
    {
        var l = Layer(name);
        var (x, w) = (l.Fixture.F("x"), l.Fixture.F("w"));
        var g = PreActivationGradient(l);
        var (ins, outs) = (Sampled(l.Input.C), Sampled(l.OutC));
        var dx = new float[x.Length];
        var dw = new float[w.Length];
        var db = new float[l.OutC];
        Parallel.For(0, l.Input.N * ins.Length, i =>
            Conv2dBackwardReference.InputGradientPlane(g, l.Input, w, l.P, l.OutC, i / ins.Length, ins[i % ins.Length], dx));
        Parallel.For(0, outs.Length, o => Conv2dBackwardReference.WeightGradientRow(x, l.Input, g, l.P, l.OutC, outs[o], dw));
        Conv2dBackwardReference.BiasGradient(g, l.Output, db);
        return new Gradients(dx, dw, db, ins, outs);
    });

    /// <summary>dy masked by the fixture's y &gt; 0 when the layer's ReLU is fused, else dy.</summary>
    public static float[] PreActivationGradient(TorchLayer l)
    {
        var dy = l.Fixture.F("dy");
        if (!l.P.FuseRelu) return dy;
        var g = new float[dy.Length];
        ReluBackwardReference.Backward(l.Fixture.F("y"), dy, g);
        return g;
    }

    /// <summary>
    /// torch (float32, MKL-DNN's blocked sums) against the reference (double sums): both within a few float roundings
    /// of the exact gradient; 1e-5 normalised is about 100 times what the two differ by.
    /// </summary>
    public const double TorchBound = 1e-5;

    [TestCaseSource(nameof(TorchCases))]
    public void ReferenceMatchesTorchAutograd(string name)
    {
        var l = Layer(name);
        var r = ReferenceGradients(name);
        GradientAssert.Close(r.DxSample(l, r.Dx), r.DxSample(l, l.Fixture.F("dx")), TorchBound, $"{name}: dx");
        GradientAssert.Close(r.DwSample(l, r.Dw), r.DwSample(l, l.Fixture.F("dw")), TorchBound, $"{name}: dw");
        if (l.P.HasBias) GradientAssert.Close(r.Db, l.Fixture.F("db"), TorchBound, $"{name}: db");
        // The forward too (sampled output planes): the fixture's y is the output the ReLU mask comes from.
        var y = new float[l.Output.Count];
        var (x, w, b) = (l.Fixture.F("x"), l.Fixture.F("w"), l.P.HasBias ? l.Fixture.F("b") : []);
        var outs = r.OutputChannels;
        Parallel.For(0, l.Output.N * outs.Length, i => Conv2dReference.ForwardPlane(x, l.Input, w, b, l.P, l.OutC, i / outs.Length, outs[i % outs.Length], y));
        var ySample = (float[] a) => (from n in Enumerable.Range(0, l.Output.N) from o in outs
            select a.AsSpan((n * l.OutC + o) * l.Output.PlaneSize, l.Output.PlaneSize).ToArray()).SelectMany(v => v).ToArray();
        GradientAssert.Close(ySample(y), ySample(l.Fixture.F("y")), TorchBound, $"{name}: forward y");
    }
}
