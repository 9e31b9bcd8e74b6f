using Ssd.Kernels.L2Norm;
using Ssd.Tests.Kernels.Backward;

namespace Ssd.Tests.Kernels.L2Norm;

/// <summary>
/// <see cref="L2NormBackwardReference"/> against finite differences in every epsilon mode, and against torch autograd
/// on SSD300's conv4_3_norm in each flavour's formulation (and Caffe's own backward formula).
/// </summary>
public class L2NormBackwardTests
{
    public static IEnumerable<TestCaseData> Modes() =>
        from mode in Enum.GetValues<L2NormEpsilon>()
        from shared in new[] { false, true }
        select new TestCaseData(mode, shared).SetArgDisplayNames(mode.ToString(), shared ? "shared scale" : "per-channel scale");

    internal static float Eps(L2NormEpsilon mode) => mode == L2NormEpsilon.ClampMin ? L2NormDefaults.TorchvisionEps : L2NormDefaults.CaffeEps;

    [TestCaseSource(nameof(Modes))]
    public void ReferenceMatchesFiniteDifferences(L2NormEpsilon mode, bool shared)
    {
        const int n = 2, c = 5, h = 3, w = 4;
        var x = TestData.Uniform(21, n * c * h * w, -2f, 2f);
        var scale = TestData.Uniform(22, shared ? 1 : c, 10f, 30f);
        var r = TestData.Uniform(23, x.Length);
        var y = new float[x.Length];
        float eps = Eps(mode);
        double Loss() { L2NormReference.Forward(n, c, h, w, x, scale, mode, eps, y); return FiniteDifference.Dot(r, y); }
        var (dx, ds) = (new float[x.Length], new float[scale.Length]);
        L2NormBackwardReference.Backward(n, c, h, w, x, scale, mode, eps, r, dx, ds);
        FiniteDifference.AssertMatches(dx, FiniteDifference.Gradient(x, Loss, 1e-2), 1e-4, $"{mode}: dx");
        FiniteDifference.AssertMatches(ds, FiniteDifference.Gradient(scale, Loss, 0.5), 1e-5, $"{mode}: dscale");
    }

    [Test]
    public void CaffesRuleIsExactForASharedScaleOnly()
    {
        const int n = 1, c = 6, h = 2, w = 3;
        var x = TestData.Uniform(31, n * c * h * w, 0f, 2f);
        var r = TestData.Uniform(32, x.Length);
        foreach (var scale in new[] { new[] { 20f }, TestData.Uniform(33, c, 10f, 30f) })
        {
            var (exact, caffe, ds1, ds2) = (new float[x.Length], new float[x.Length], new float[scale.Length], new float[scale.Length]);
            L2NormBackwardReference.Backward(n, c, h, w, x, scale, L2NormEpsilon.InsideSqrt, 1e-10f, r, exact, ds1);
            L2NormBackwardReference.Backward(n, c, h, w, x, scale, L2NormEpsilon.InsideSqrt, 1e-10f, r, caffe, ds2, L2NormGradient.Caffe);
            CpuVariants.AssertBits(ds2, ds1, "dscale is the same in both rules");
            double error = GradientAssert.NormalizedError(caffe, exact);
            if (scale.Length == 1) Assert.That(error, Is.LessThan(1e-6), "shared scale: the rules agree");
            else Assert.That(error, Is.GreaterThan(1e-2), "per-channel scale: Caffe's dot product leaves the scale out");
        }
        Assert.Throws<ArgumentException>(() => L2NormBackwardReference.Backward(n, c, h, w, x, [1f], L2NormEpsilon.AfterSqrt, 1e-10f,
            r, new float[x.Length], new float[1], L2NormGradient.Caffe), "Caffe's rule with another flavour's norm");
    }

    [Test]
    public void AllZeroPixelTakesTheLimitInsteadOfNaN()
    {
        // One pixel, 3 channels, x = 0: y_k = x_k s_k / N(0) near 0, so dy_k s_k / N(0) is the whole derivative.
        float[] x = [0, 0, 0], s = [2, 3, 4], dy = [1, -1, 0.5f];
        foreach (var mode in Enum.GetValues<L2NormEpsilon>())
        {
            float eps = Eps(mode);
            var (dx, ds) = (new float[3], new float[3]);
            L2NormBackwardReference.Backward(1, 3, 1, 1, x, s, mode, eps, dy, dx, ds);
            double norm = mode == L2NormEpsilon.InsideSqrt ? Math.Sqrt(eps) : eps;
            for (int k = 0; k < 3; k++)
                Assert.That(dx[k], Is.EqualTo((float)(s[k] * dy[k] / norm)).Within(1e-4).Percent, $"{mode}: dx[{k}]");
            Assert.That(ds, Is.EqualTo(new float[3]), $"{mode}: dscale");
        }
    }

    [Test]
    public void ClampMinPassesTheGradientAtEqualityLikeTorch()
    {
        // ||x|| = 5 exactly, eps 5: torch's clamp_min backward passes the gradient where norm >= eps.
        float[] x = [3, 4], s = [1, 1], dy = [1, 0];
        var (dx, ds) = (new float[2], new float[2]);
        L2NormBackwardReference.Backward(1, 2, 1, 1, x, s, L2NormEpsilon.ClampMin, 5f, dy, dx, ds);
        // dx_j = dy_j / 5 - x_j * (x . dy) / 125 = (0.2 - 3 * 3 / 125, -4 * 3 / 125)
        Assert.That(dx[0], Is.EqualTo(0.2f - 9f / 125).Within(1e-7));
        Assert.That(dx[1], Is.EqualTo(-12f / 125).Within(1e-7));
        L2NormBackwardReference.Backward(1, 2, 1, 1, x, s, L2NormEpsilon.ClampMin, 5.0001f, dy, dx, ds);
        Assert.That(dx, Is.EqualTo(new[] { 1 / 5.0001f, 0f }).Within(1e-7), "below eps the norm is a constant");
    }

    [Test]
    public void BadInputIsRefused()
    {
        var x = new float[12];
        Assert.Throws<ArgumentException>(() => L2NormBackwardReference.Backward(1, 3, 2, 2, x, [1, 1], L2NormEpsilon.InsideSqrt, 1e-10f, x, x, new float[2]));
        Assert.Throws<ArgumentException>(() => L2NormBackwardReference.Backward(1, 3, 2, 2, x, [1], L2NormEpsilon.InsideSqrt, 1e-10f, new float[11], x, new float[1]));
        Assert.Throws<ArgumentException>(() => L2NormBackwardReference.Backward(1, 3, 2, 2, x, [1], L2NormEpsilon.InsideSqrt, 1e-10f, x, x, new float[2]));
        Assert.Throws<ArgumentException>(() => L2NormBackwardReference.Backward(1, 3, 2, 2, x, [1], (L2NormEpsilon)9, 1e-10f, x, x, new float[1]));
        Assert.Throws<ArgumentException>(() => L2NormBackwardReference.Backward(1, 3, 2, 2, x, [1], L2NormEpsilon.InsideSqrt, float.NaN, x, x, new float[1]));
    }

    // ---- Against torch autograd ----

    public static IEnumerable<TestCaseData> TorchCases() =>
        from name in new[] { "conv4_3_norm", "norm_shared" }
        from flavour in new[] { ("torchvision", L2NormEpsilon.ClampMin), ("ssd_pytorch", L2NormEpsilon.AfterSqrt), ("caffe", L2NormEpsilon.InsideSqrt) }
        select new TestCaseData(name, flavour.Item1, flavour.Item2);

    /// <summary>torch's float autograd against the double-sum reference: a few roundings of the exact gradient.</summary>
    public const double TorchBound = 1e-6;

    [TestCaseSource(nameof(TorchCases))]
    public void ReferenceMatchesTorchAutograd(string name, string flavour, L2NormEpsilon mode)
    {
        var f = BackwardFixtures.Case(name);
        var s = f.Shape("x");
        var (x, scale, dy) = (f.F("x"), f.F("scale"), f.F("dy"));
        var (y, dx, ds) = (new float[x.Length], new float[x.Length], new float[scale.Length]);
        L2NormReference.Forward(s[0], s[1], s[2], s[3], x, scale, mode, Eps(mode), y);
        GradientAssert.Close(y, f.F($"y_{flavour}"), TorchBound, $"{name} {flavour}: y");
        L2NormBackwardReference.Backward(s[0], s[1], s[2], s[3], x, scale, mode, Eps(mode), dy, dx, ds);
        GradientAssert.Close(dx, f.F($"dx_{flavour}"), TorchBound, $"{name} {flavour}: dx");
        GradientAssert.Close(ds, f.F($"dscale_{flavour}"), TorchBound, $"{name} {flavour}: dscale");
        if (flavour != "caffe") return;
        L2NormBackwardReference.Backward(s[0], s[1], s[2], s[3], x, scale, mode, Eps(mode), dy, dx, ds, L2NormGradient.Caffe);
        GradientAssert.Close(dx, f.F("dx_caffe_rule"), TorchBound, $"{name}: Caffe's dx formula");
        GradientAssert.Close(ds, f.F("dscale_caffe_rule"), TorchBound, $"{name}: Caffe's dscale formula");
    }
}
