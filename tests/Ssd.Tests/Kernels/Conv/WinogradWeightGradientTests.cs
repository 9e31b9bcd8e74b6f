using Ssd.Kernels.Conv;
using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;
using Ssd.Tests.Kernels.Backward;
using static Ssd.Tests.Kernels.Conv.Conv2dBackwardTests;

namespace Ssd.Tests.Kernels.Conv;

/// <summary>
/// dw of 3x3 stride-1 convs by Winograd F(4x4), the adjoint of the forward's transforms
/// (<see cref="WinogradWeightGradient"/>, forced through <see cref="Conv2dBackwardSimd.Backward"/> so the fused ReLU's
/// mask is in it) against <see cref="Conv2dBackwardReference"/> with every ISA level forced; in several blocks of
/// tiles; on SSD300's layers from the torch fixtures; independent of the thread count; and where it is picked.
/// </summary>
public class WinogradWeightGradientTests
{
    public static IEnumerable<TestCaseData> CasesByIsa() =>
        from c in WinogradInputGradientTests.Cases.Append(new("pad1 batch2 70 -> 20 on 38x21 (ragged panels, a second V group)", new(2, 70, 38, 21), 20,
            Conv2dParams.Square(3, pad: 1, fuseRelu: true)))
        from isa in CpuVariants.Isas
        select new TestCaseData(c, isa).SetArgDisplayNames(c.Name, isa.ToString());

    private static (float[] Dw, float[] Expected) Gradients(Case c, CpuOpOptions options, int seed, long budget = -1,
        long chunk = WinogradWeightGradient.MChunk)
    {
        var (x, w, b, r) = CaseData(c, seed);
        float[] y = [];
        if (c.P.FuseRelu)
        {
            y = new float[c.Output.Count];
            Conv2dReference.Forward(x, c.Input, w, c.P.HasBias ? b : [], c.P, c.OutC, y);
            Assert.That(y.Count(v => v > 0), Is.InRange(y.Length / 5, 4 * y.Length / 5), "the ReLU masks a fair share");
        }
        var (ex, ew, eb) = (new float[x.Length], new float[w.Length], new float[c.OutC]);
        Conv2dBackwardReference.Backward(x, c.Input, w, c.P, c.OutC, y, r, ex, ew, eb);
        var dw = new float[w.Length];
        if (budget < 0)
        {
            var layer = new Conv2dBackwardSimd(c.P, c.Input.C, c.OutC, options, forceWinograd: true);
            Assert.That(layer.WinogradWeights(c.Input), Is.True, "forced where it applies");
            var (ax, ab) = (new float[x.Length], new float[c.OutC]);
            layer.Backward(x, c.Input, w, y, r, ax, dw, ab);
            TestData.AssertClose(ax, ex, 1e-4f, 1e-5f, $"{c.Name}: dx");
            if (c.P.HasBias) GradientAssert.Close(ab, eb, Conv2dBackwardSimdTests.Bound, $"{c.Name}: db");
        }
        else
        {
            // Straight to the kernel with a small block budget: the pre-activation gradient is dy masked by the ReLU.
            var g = c.P.FuseRelu ? r.Select((v, i) => y[i] > 0 ? v : 0f).ToArray() : r;
            new WinogradWeightGradient(c.P, c.Input.C, c.OutC, options, budget, chunk).Run(x, c.Input, g, dw);
        }
        return (dw, ew);
    }

    [TestCaseSource(nameof(CasesByIsa))]
    public void MatchesReference(Case c, CpuIsa isa)
    {
        var (dw, expected) = Gradients(c, CpuVariants.Options(isa), seed: 83);
        GradientAssert.Close(dw, expected, Conv2dBackwardSimdTests.Bound, $"{c.Name} {isa}: dw");
    }

    [Test]
    public void SeveralBlocksOfTilesAddUp()
    {
        // 11x9 at pad 0 is 3 x 3 tiles per image: budgets of 1, 2 and 4 tiles' worth cut each image into blocks, mid-row.
        var c = WinogradInputGradientTests.Cases[1];
        foreach (var isa in new[] { CpuIsa.Avx512, CpuIsa.Avx2 }.Where(CpuIsaSupport.IsSupported))
        {
            var mk = Ssd.Kernels.Conv.MicroKernel.For(isa);
            long perLane = 36L * ((c.Input.C + mk.NR - 1) / mk.NR * mk.NR + (c.OutC + mk.MR - 1) / mk.MR * mk.MR);
            foreach (int lanes in new[] { 1, 2, 4 })
            {
                var (dw, expected) = Gradients(c, CpuVariants.Options(isa), seed: 89, budget: lanes * perLane);
                GradientAssert.Close(dw, expected, Conv2dBackwardSimdTests.Bound, $"{isa}, {lanes} tiles per block");
            }
        }
    }

    [Test]
    public void ChunksOfOutputChannelsAddUp()
    {
        // 29 output channels: chunks of one panel (MR channels) each, the taps of each chunk taken after its GEMMs;
        // with two blocks per image and two images, so only the last block's chunks take the taps; then one image in
        // one block, where M holds one chunk at a time.
        var c = WinogradInputGradientTests.Cases[4];
        foreach (var isa in new[] { CpuIsa.Avx512, CpuIsa.Avx2 }.Where(CpuIsaSupport.IsSupported))
        {
            var mk = Ssd.Kernels.Conv.MicroKernel.For(isa);
            long ciPad = (c.Input.C + mk.NR - 1) / mk.NR * mk.NR, perLane = 36L * (ciPad + (c.OutC + mk.MR - 1) / mk.MR * mk.MR);
            var (dw, expected) = Gradients(c, CpuVariants.Options(isa), seed: 91, budget: 10 * perLane, chunk: 36L * mk.MR * ciPad);
            GradientAssert.Close(dw, expected, Conv2dBackwardSimdTests.Bound, $"{isa}, one panel per chunk");
            // One image in one block (32 output channels): M holds one chunk at a time.
            var one = WinogradInputGradientTests.Cases[0];
            long onePad = (one.Input.C + mk.NR - 1) / mk.NR * mk.NR;
            (dw, expected) = Gradients(one, CpuVariants.Options(isa), seed: 93, budget: 1L << 30, chunk: 36L * mk.MR * onePad);
            GradientAssert.Close(dw, expected, Conv2dBackwardSimdTests.Bound, $"{isa}, one block, one panel per chunk");
        }
    }

    public static IEnumerable<TestCaseData> TorchLayers() =>
        from name in new[] { "conv4_3", "conv4_3_conf", "conv10_2" }
        select new TestCaseData(name).SetArgDisplayNames(name);

    /// <summary>SSD300's eligible layers from the torch fixtures: dw within the bound of the direct dw against the
    /// reference, and of the reference against torch autograd.</summary>
    [TestCaseSource(nameof(TorchLayers))]
    public void SsdLayerMatchesReferenceAndTorch(string name)
    {
        var l = Layer(name);
        var r = ReferenceGradients(name);
        var (x, w) = (l.Fixture.F("x"), l.Fixture.F("w"));
        var (dx, dw, db) = (new float[x.Length], new float[w.Length], new float[l.OutC]);
        new Conv2dBackwardSimd(l.P, l.Input.C, l.OutC, default, forceWinograd: true).Backward(x, l.Input, w, l.Fixture.F("y"), l.Fixture.F("dy"), dx, dw, db);
        GradientAssert.Close(r.DwSample(l, dw), r.DwSample(l, r.Dw), Conv2dBackwardSimdTests.Bound, $"{name}: dw against the reference");
        GradientAssert.Close(dw, l.Fixture.F("dw"), TorchBound, $"{name}: dw against torch");
    }

    [Test]
    public void ThreadCountDoesNotChangeABit()
    {
        var c = WinogradInputGradientTests.Cases[4];
        var (x, w, _, r) = CaseData(c, seed: 97);
        var y = r.Select(v => v + 0.3f).ToArray();
        float[] Run(int threads)
        {
            var (dx, dw, db) = (new float[x.Length], new float[w.Length], new float[c.OutC]);
            var layer = new Conv2dBackwardSimd(c.P, c.Input.C, c.OutC, new CpuOpOptions(Threads: threads), forceWinograd: true);
            layer.Backward(x, c.Input, w, y, r, dx, dw, db);
            layer.Backward(x, c.Input, w, y, r, dx, dw, db); // reused scratch
            return dw;
        }
        var one = Run(1);
        foreach (int threads in new[] { 2, 3 }) CpuVariants.AssertBits(Run(threads), one, $"{threads} threads");
    }

    [Test]
    public void PickedWhereItDoesLessWork()
    {
        if (!CpuIsaSupport.IsSupported(CpuIsa.Avx512)) Assert.Ignore("Winograd dw is picked on AVX-512 only; this CPU has no AVX-512");
        var conv = Conv2dParams.Square(3, pad: 1, fuseRelu: true);
        bool Picks(int inC, int outC, int size, CpuIsa isa = CpuIsa.Avx512) =>
            new Conv2dBackwardSimd(conv, inC, outC, new CpuOpOptions(Isa: isa)).WinogradWeights(new TensorShape(1, inC, size, size));
        Assert.Multiple(() =>
        {
            Assert.That(Picks(64, 64, 300), Is.True, "conv1_2");
            Assert.That(Picks(512, 512, 38), Is.True, "conv4_3");
            Assert.That(Picks(512, 512, 19), Is.False, "conv5_3: 25 tiles, below MinTiles");
            Assert.That(Picks(512, 512, 32), Is.True, "SSD512's conv5_3: 64 tiles");
            Assert.That(Picks(512, 16, 38), Is.True, "conv4_3 loc head");
            Assert.That(Picks(3, 64, 300), Is.False, "conv1_1: 3 input channels would pad to a whole panel");
            Assert.That(Picks(256, 16, 1), Is.False, "a 1x1 map: one tile for one pixel");
            Assert.That(Picks(512, 126, 10), Is.False, "a 10x10 map: 9 tiles, below MinTiles");
            Assert.That(Picks(512, 512, 38, CpuIsa.Avx2), Is.False, "AVX2: scalar transforms, the direct dw");
        });
        // Not a 3x3 stride-1 ungrouped conv with pad <= 2: never, not even forced.
        foreach (var p in new[] { Conv2dParams.Square(3, stride: 2, pad: 1), Conv2dParams.Square(3, pad: 6, dilation: 6), Conv2dParams.Square(3, pad: 3),
                     Conv2dParams.Square(3, pad: 1, groups: 2), Conv2dParams.Square(1) })
            Assert.That(new Conv2dBackwardSimd(p, 64, 64, default, forceWinograd: true).WinogradWeights(new TensorShape(1, 64, 38, 38)), Is.False, p.ToString());
    }
}
