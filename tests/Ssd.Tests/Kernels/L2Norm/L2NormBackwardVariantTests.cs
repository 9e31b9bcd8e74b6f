using ILGPU.Runtime;
using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;
using Ssd.Kernels.L2Norm;
using Ssd.Tests.Kernels.Backward;

namespace Ssd.Tests.Kernels.L2Norm;

/// <summary>
/// L2Norm's backward variants (SIMD with every ISA level forced; ILGPU on the CPU simulator and PoCL) against
/// <see cref="L2NormBackwardReference"/>, every epsilon mode, both rules, shared and per-channel scales, zero pixels
/// included, and on SSD300's conv4_3_norm. Float sums against double ones: a normalised-error bound.
/// </summary>
public class L2NormBackwardVariantTests
{
    public const double Bound = 1e-5;

    public static IEnumerable<TestCaseData> Cases() =>
        from mode in Enum.GetValues<L2NormEpsilon>()
        from shared in new[] { false, true }
        from rule in new[] { L2NormGradient.Exact, L2NormGradient.Caffe }
        where rule == L2NormGradient.Exact || mode == L2NormEpsilon.InsideSqrt
        select new TestCaseData(mode, shared, rule).SetArgDisplayNames(mode.ToString(), shared ? "shared" : "per-channel", rule.ToString());

    private sealed record Data(int N, int C, int H, int W, float[] X, float[] Scale, float[] Dy);

    private static Data Make(int n, int c, int h, int w, bool shared, int seed)
    {
        var x = TestData.Uniform(seed, n * c * h * w, -1f, 2f);
        // Two all-zero pixels: the limits of the formulas.
        for (int k = 0; k < c; k++) { x[k * h * w] = 0; x[(n - 1) * c * h * w + k * h * w + h * w - 1] = 0; }
        return new Data(n, c, h, w, x, TestData.Uniform(seed + 1, shared ? 1 : c, 10f, 30f), TestData.Uniform(seed + 2, x.Length));
    }

    private static (float[] Dx, float[] Ds) Reference(Data d, L2NormEpsilon mode, L2NormGradient rule)
    {
        var (dx, ds) = (new float[d.X.Length], new float[d.Scale.Length]);
        L2NormBackwardReference.Backward(d.N, d.C, d.H, d.W, d.X, d.Scale, mode, L2NormBackwardTests.Eps(mode), d.Dy, dx, ds, rule);
        return (dx, ds);
    }

    [TestCaseSource(nameof(Cases))]
    public void SimdMatchesReference(L2NormEpsilon mode, bool shared, L2NormGradient rule)
    {
        var d = Make(2, 37, 13, 11, shared, 3);
        var (ex, es) = Reference(d, mode, rule);
        foreach (var isa in CpuVariants.Isas.Where(CpuIsaSupport.IsSupported))
        {
            var (dx, ds) = (new float[d.X.Length], new float[d.Scale.Length]);
            L2NormBackwardSimd.Backward(d.N, d.C, d.H, d.W, d.X, d.Scale, mode, L2NormBackwardTests.Eps(mode), d.Dy, dx, ds, rule, new CpuOpOptions(isa, 2));
            GradientAssert.Close(dx, ex, Bound, $"{isa}: dx");
            GradientAssert.Close(ds, es, Bound, $"{isa}: dscale");
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void KernelsMatchReference(L2NormEpsilon mode, bool shared, L2NormGradient rule)
    {
        var d = Make(2, 7, 5, 3, shared, 4);
        var expected = Reference(d, mode, rule);
        foreach (var backend in TestDevices.Backends) CompareOnDevice(TestDevices.Get(backend), d, mode, rule, expected);
    }

    [Test]
    public void Conv43NormOnEveryVariant()
    {
        var f = BackwardFixtures.Case("conv4_3_norm");
        var s = f.Shape("x");
        var d = new Data(s[0], s[1], s[2], s[3], f.F("x"), f.F("scale"), f.F("dy"));
        foreach (var (mode, rule) in new[] { (L2NormEpsilon.ClampMin, L2NormGradient.Exact), (L2NormEpsilon.InsideSqrt, L2NormGradient.Caffe) })
        {
            var expected = Reference(d, mode, rule);
            var (dx, ds) = (new float[d.X.Length], new float[d.Scale.Length]);
            L2NormBackwardSimd.Backward(d.N, d.C, d.H, d.W, d.X, d.Scale, mode, L2NormBackwardTests.Eps(mode), d.Dy, dx, ds, rule);
            GradientAssert.Close(dx, expected.Dx, Bound, $"{mode} {rule} SIMD: dx");
            GradientAssert.Close(ds, expected.Ds, Bound, $"{mode} {rule} SIMD: dscale");
            CompareOnDevice(TestDevices.OpenCL, d, mode, rule, expected);
        }
    }

    private static void CompareOnDevice(ComputeDevice device, Data d, L2NormEpsilon mode, L2NormGradient rule, (float[] Dx, float[] Ds) expected)
    {
        using var bx = device.Upload(d.X);
        using var bs = device.Upload(d.Scale);
        using var bdy = device.Upload(d.Dy);
        using var bdx = device.Allocate(d.X.Length);
        using var bds = device.Allocate(d.Scale.Length);
        using var op = new L2NormBackwardOp(device);
        op.Backward(new TensorShape(d.N, d.C, d.H, d.W), bx.View, bs.View, mode, L2NormBackwardTests.Eps(mode), bdy.View, bdx.View, bds.View, rule);
        device.Synchronize();
        GradientAssert.Close(bdx.GetAsArray1D(), expected.Dx, Bound, $"{mode} {rule} on {device.Kind}: dx");
        GradientAssert.Close(bds.GetAsArray1D(), expected.Ds, Bound, $"{mode} {rule} on {device.Kind}: dscale");
    }
}
