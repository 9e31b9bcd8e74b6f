using Ssd.Kernels.Conv;
using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;
using Ssd.Tests.Kernels.Backward;
using static Ssd.Tests.Kernels.Conv.Conv2dBackwardTests;

namespace Ssd.Tests.Kernels.Conv;

/// <summary>
/// dx of 3x3 stride-1 convs as the Winograd F(4x4) forward conv of g with the flipped filters
/// (<see cref="WinogradInputGradient"/>, through <see cref="Conv2dBackwardSimd.Backward"/> so the fused ReLU's mask is
/// in it) against <see cref="Conv2dBackwardReference"/> with every ISA level forced, within the bound of the forward's
/// Winograd tests; on SSD300's layers from the torch fixtures; where the backward executor picks it; and its refresh.
/// </summary>
public class WinogradInputGradientTests
{
    /// <summary>Paddings 0, 1 and 2 (and mixed), fused ReLU, batch 2, odd sizes, several tile rows, a 1x1 map.</summary>
    public static readonly Case[] Cases =
    [
        new("pad1 relu 16 -> 32 on 19x19", new(1, 16, 19, 19), 32, Conv2dParams.Square(3, pad: 1, fuseRelu: true)),
        new("pad0 batch2 odd 11x9, 5 -> 7", new(2, 5, 11, 9), 7, Conv2dParams.Square(3)),
        new("pad2 relu batch2 odd 7x10, 6 -> 9", new(2, 6, 7, 10), 9, Conv2dParams.Square(3, pad: 2, fuseRelu: true)),
        new("pad 0x2 no bias, 4 -> 5 on 9x5", new(1, 4, 9, 5), 5, new Conv2dParams(3, 3, PadH: 0, PadW: 2, HasBias: false)),
        new("pad1 batch2 37 channels on 13x17, relu", new(2, 37, 13, 17), 29, Conv2dParams.Square(3, pad: 1, fuseRelu: true)),
        new("pad0 3x3 map (conv10_2-like) batch 3", new(3, 10, 3, 3), 12, Conv2dParams.Square(3, fuseRelu: true)),
        new("pad1 1x1 map (conv11_2-like)", new(2, 8, 1, 1), 6, Conv2dParams.Square(3, pad: 1)),
    ];

    public static IEnumerable<TestCaseData> CasesByIsa() =>
        from c in Cases
        from isa in CpuVariants.Isas
        select new TestCaseData(c, isa).SetArgDisplayNames(c.Name, isa.ToString());

    [TestCaseSource(nameof(CasesByIsa))]
    public void MatchesReference(Case c, CpuIsa isa)
    {
        var options = CpuVariants.Options(isa);
        var (x, w, b, r) = CaseData(c, seed: 61);
        float[] y = [];
        if (c.P.FuseRelu)
        {
            y = new float[c.Output.Count];
            Conv2dReference.Forward(x, c.Input, w, c.P.HasBias ? b : [], c.P, c.OutC, y);
            Assert.That(y.Count(v => v > 0), Is.InRange(y.Length / 5, 4 * y.Length / 5), "the ReLU masks a fair share");
        }
        var (ex, ew, eb) = (new float[x.Length], new float[w.Length], new float[c.OutC]);
        Conv2dBackwardReference.Backward(x, c.Input, w, c.P, c.OutC, y, r, ex, ew, eb);
        var winograd = WinogradInputGradient.For(c.P, c.Input.C, c.OutC, c.Input, w, options, force: true);
        Assert.That(winograd, Is.Not.Null, "forced where it applies");
        var (ax, aw, ab) = (new float[x.Length], new float[w.Length], new float[c.OutC]);
        new Conv2dBackwardSimd(c.P, c.Input.C, c.OutC, options).Backward(x, c.Input, w, y, r, ax, aw, ab, winograd);
        TestData.AssertClose(ax, ex, 1e-4f, 1e-5f, $"{c.Name} {isa}: dx");
        GradientAssert.Close(aw, ew, Conv2dBackwardSimdTests.Bound, $"{c.Name} {isa}: dw");
        if (c.P.HasBias) GradientAssert.Close(ab, eb, Conv2dBackwardSimdTests.Bound, $"{c.Name} {isa}: db");
    }

    public static IEnumerable<TestCaseData> TorchLayers() =>
        from name in new[] { "conv4_3", "conv4_3_conf", "conv10_2" }
        select new TestCaseData(name).SetArgDisplayNames(name);

    /// <summary>SSD300's eligible layers from the torch fixtures (relu, batch 2, pad 0): dx within the bound of the
    /// direct dx against the reference, and of the reference against torch autograd.</summary>
    [TestCaseSource(nameof(TorchLayers))]
    public void SsdLayerMatchesReferenceAndTorch(string name)
    {
        var l = Layer(name);
        var r = ReferenceGradients(name);
        var (x, w) = (l.Fixture.F("x"), l.Fixture.F("w"));
        var winograd = WinogradInputGradient.For(l.P, l.Input.C, l.OutC, l.Input, w, default, force: true)!;
        var (dx, dw, db) = (new float[x.Length], new float[w.Length], new float[l.OutC]);
        new Conv2dBackwardSimd(l.P, l.Input.C, l.OutC).Backward(x, l.Input, w, l.Fixture.F("y"), l.Fixture.F("dy"), dx, dw, db, winograd);
        GradientAssert.Close(r.DxSample(l, dx), r.DxSample(l, r.Dx), Conv2dBackwardSimdTests.Bound, $"{name}: dx against the reference");
        GradientAssert.Close(dx, l.Fixture.F("dx"), TorchBound, $"{name}: dx against torch");
        GradientAssert.Close(r.DwSample(l, dw), r.DwSample(l, r.Dw), Conv2dBackwardSimdTests.Bound, $"{name}: dw");
    }

    [Test]
    public void PickedWhereTheForwardWouldPickWinogradForGsShape()
    {
        // conv4_3 at batch 1 (the engine's training network): g is 512 x 38 x 38, where the forward runs F(4x4).
        var conv43 = Conv2dParams.Square(3, pad: 1, fuseRelu: true);
        var w = new float[conv43.WeightCount(64, 64)];
        var forward = new CpuConv2d(WinogradInputGradient.Transposed(conv43), 64, 64, w, []);
        foreach (int size in new[] { 38, 19, 10, 5, 3 })
        {
            var xs = new TensorShape(1, 64, size, size);
            bool picked = WinogradInputGradient.For(conv43, 64, 64, xs, w, default) is not null;
            Assert.That(picked, Is.EqualTo(forward.AlgorithmFor(conv43.OutputShape(xs, 64)) == CpuConvAlgorithm.Winograd4x4), $"{size}x{size}");
        }
        Assert.That(WinogradInputGradient.For(conv43, 64, 64, new TensorShape(1, 64, 38, 38), w, default), Is.Not.Null, "38x38: F(4x4)");
        // A loc head (16 outputs): its dx conv has 16 input channels, too few for the forward's F(4x4).
        Assert.That(WinogradInputGradient.For(Conv2dParams.Square(3, pad: 1), 512, 16, new TensorShape(1, 512, 38, 38), new float[512 * 16 * 9], default), Is.Null);
        // Not a 3x3 stride-1 ungrouped conv with pad <= 2: never, not even forced.
        foreach (var p in new[] { Conv2dParams.Square(3, stride: 2, pad: 1), Conv2dParams.Square(3, pad: 6, dilation: 6), Conv2dParams.Square(3, pad: 3),
                     Conv2dParams.Square(3, pad: 1, groups: 2), Conv2dParams.Square(1) })
            Assert.That(WinogradInputGradient.For(p, 64, 64, new TensorShape(1, 64, 38, 38), new float[p.WeightCount(64, 64)], default, force: true), Is.Null, p.ToString());
    }

    [Test]
    public void RefreshedExecutorMatchesAFreshOneBitForBit()
    {
        // The default CPU backward (cpu.simd) on a shape where it runs dx by F(4x4).
        var c = Cases[0];
        Assert.That(WinogradInputGradient.For(c.P, c.Input.C, c.OutC, c.Input, new float[c.P.WeightCount(c.Input.C, c.OutC)], default), Is.Not.Null);
        var (x, w, b, r) = CaseData(c, seed: 71);
        var weights = new ConvWeights(w, b);
        var p = new ConvParams(c.P, c.Input, c.OutC, () => weights);
        long xn = c.Input.Count, yn = c.Output.Count;
        // Arena: x, y, dy, then dx, dw, db.
        var slices = new[] { xn, yn, yn, xn, w.Length, c.OutC }.Aggregate(new List<ArenaSlice>(), (list, n) =>
        {
            list.Add(new ArenaSlice(list.Count == 0 ? 0 : list[^1].Offset + list[^1].Length, n));
            return list;
        });
        var arena = new float[slices[^1].Offset + slices[^1].Length];
        x.CopyTo(arena, 0);
        r.Select(v => Math.Max(v, 0f)).ToArray().CopyTo(arena, slices[1].Offset);
        TestData.Uniform(73, yn).CopyTo(arena, slices[2].Offset);
        var binding = new OpBinding([slices[0], slices[1], slices[2]], [slices[3], slices[4], slices[5]]);
        var context = new CpuOpContext(arena, new CpuOpOptions(Threads: 2));
        float[] Dx(IOpExecutor e)
        {
            e.Run();
            return arena.AsSpan((int)slices[3].Offset, (int)xn).ToArray();
        }
        var executor = ConvVariants.Conv2d.Create(OpPass.Backward, p, binding, context, "cpu.simd");
        var before = Dx(executor);

        var rng = new Random(5);
        for (int i = 0; i < w.Length; i++) w[i] += 0.1f * (rng.NextSingle() - 0.5f);
        ((IWeightedExecutor)executor).RefreshWeights();
        var refreshed = Dx(executor);
        var fresh = Dx(ConvVariants.Conv2d.Create(OpPass.Backward, p, binding, context, "cpu.simd"));
        CpuVariants.AssertBits(refreshed, fresh, "dx after the refresh");
        Assert.That(refreshed, Is.Not.EqualTo(before).AsCollection, "the new weights changed dx");
        // And it is the new weights' dx.
        var (ex, ew, eb) = (new float[xn], new float[w.Length], new float[c.OutC]);
        var y = arena.AsSpan((int)slices[1].Offset, (int)yn).ToArray();
        var dy = arena.AsSpan((int)slices[2].Offset, (int)yn).ToArray();
        Conv2dBackwardReference.Backward(x, c.Input, w, c.P, c.OutC, y, dy, ex, ew, eb);
        TestData.AssertClose(refreshed, ex, 1e-4f, 1e-5f, "dx after the refresh against the reference");
    }
}
