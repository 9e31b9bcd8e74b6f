using Ssd.Kernels.Conv;
using Ssd.Kernels.Cpu;

namespace Ssd.Tests.Kernels.Conv;

/// <summary>
/// The F(4x4) filter transform U = G g G^T (<see cref="WinogradF4x4.TransformWeights(ReadOnlySpan{float}, int, int, Span{float})"/>):
/// on AVX-512 it runs 8 channel pairs per call in double lanes; each pair's U must be the scalar form's, bit for bit,
/// so a layer's transformed weights do not depend on where its pairs fall. (Its values are checked by every
/// Winograd forward and gradient test against the plain reference.)
/// </summary>
public class WinogradWeightTransformTests
{
    [Test]
    public void EightPairsAtOnceAreTheScalarFormBitForBit()
    {
        if (!CpuIsaSupport.IsSupported(CpuIsa.Avx512)) Assert.Ignore("the 8-pair form runs on AVX-512 only; this CPU has none");
        // 3 output x 3 input channels = 9 pairs: pairs 0..7 go through the vector form, pair 8 through the scalar one.
        const int pairs = 9, xi = WinogradF4x4.Xi;
        var rng = new Random(3);
        var w = Enumerable.Range(0, pairs * 9).Select(_ => (rng.NextSingle() - 0.5f) * MathF.Pow(2, rng.Next(-20, 20))).ToArray();
        var u = new float[xi * pairs];
        WinogradF4x4.TransformWeights(w, 3, 3, u);
        for (int p = 0; p < 8; p++)
        {
            // Pair p moved to the last place, where the scalar form transforms it.
            var order = Enumerable.Range(0, pairs).Where(q => q != p).Append(p).ToArray();
            var moved = order.SelectMany(q => w.Skip(q * 9).Take(9)).ToArray();
            var v = new float[xi * pairs];
            WinogradF4x4.TransformWeights(moved, 3, 3, v);
            for (int k = 0; k < xi; k++)
                Assert.That(BitConverter.SingleToInt32Bits(v[k * pairs + 8]), Is.EqualTo(BitConverter.SingleToInt32Bits(u[k * pairs + p])), $"pair {p}, xi {k}");
        }
    }

    [Test]
    public unsafe void ThePanelFormIsTheStagedFormTransposed()
    {
        if (!CpuIsaSupport.IsSupported(CpuIsa.Avx512)) Assert.Ignore("the panel form runs on AVX-512 only; this CPU has none");
        // 24 output channels in panels of 32 (the last rows stay zero), 5 input channels; a second block from o0 = 8.
        const int outC = 24, inC = 5, mr = 32, xi = WinogradF4x4.Xi;
        var rng = new Random(4);
        var w = Enumerable.Range(0, outC * inC * 9).Select(_ => (rng.NextSingle() - 0.5f) * MathF.Pow(2, rng.Next(-20, 20))).ToArray();
        var staged = new float[xi * outC * inC];
        WinogradF4x4.TransformWeights(w, inC, outC, staged);
        foreach (var (o0, count) in new[] { (0, 24), (8, 16) })
        {
            long xiStride = (long)inC * mr;
            var panel = new float[xi * xiStride];
            fixed (float* pp = panel) WinogradF4x4.TransformWeightsToPanel(w, inC, o0, count, pp, xiStride, mr);
            for (int k = 0; k < xi; k++)
                for (int c = 0; c < inC; c++)
                    for (int r = 0; r < mr; r++)
                    {
                        float expected = r < count ? staged[(k * outC + o0 + r) * inC + c] : 0f;
                        Assert.That(BitConverter.SingleToInt32Bits(panel[k * xiStride + c * mr + r]), Is.EqualTo(BitConverter.SingleToInt32Bits(expected)), $"o0 {o0}, xi {k}, c {c}, row {r}");
                    }
        }
    }
}
