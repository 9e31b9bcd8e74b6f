using Ssd.Kernels.Cpu;
using Ssd.Kernels.L2Norm;
using static Ssd.Tests.Kernels.CpuVariants;

namespace Ssd.Tests.Kernels.L2Norm;

/// <summary>The CPU backend's L2Norm against its plain reference, bit for bit, at every ISA level this CPU runs.</summary>
public class CpuL2NormTests
{
    private static IEnumerable<TestCaseData> L2NormSource =>
        from shape in new[] { (1, 512, 38, 38), (2, 7, 5, 3), (1, 3, 17, 19), (1, 20, 1, 1) }
        from mode in Enum.GetValues<L2NormEpsilon>()
        from isa in Isas
        select new TestCaseData(shape.Item1, shape.Item2, shape.Item3, shape.Item4, mode, isa);

    [TestCaseSource(nameof(L2NormSource))]
    public void L2NormIsReference(int n, int c, int h, int w, L2NormEpsilon mode, CpuIsa isa)
    {
        float eps = mode switch { L2NormEpsilon.InsideSqrt => L2NormDefaults.CaffeEps, L2NormEpsilon.AfterSqrt => L2NormDefaults.SsdPytorchEps, _ => L2NormDefaults.TorchvisionEps };
        var x = TestData.Uniform(21, (long)n * c * h * w, -40f, 60f);
        x[0] = float.NaN;
        // A pixel of zeros: the eps decides its norm.
        for (int k = 0; k < c; k++) x[(long)k * h * w + h * w - 1] = k % 2 == 0 ? 0f : -0f;
        foreach (var scale in new[] { new[] { 20f }, TestData.Uniform(22, c, 5f, 25f) })
        {
            var expected = new float[x.Length];
            var actual = new float[x.Length];
            L2NormReference.Forward(n, c, h, w, x, scale, mode, eps, expected);
            CpuL2Norm.Forward(n, c, h, w, x, scale, mode, eps, actual, Options(isa));
            AssertBits(actual, expected, $"l2norm {n}x{c}x{h}x{w} {mode} scale {scale.Length}");
            var inPlace = (float[])x.Clone();
            CpuL2Norm.Forward(n, c, h, w, inPlace, scale, mode, eps, inPlace, Options(isa));
            AssertBits(inPlace, expected, "l2norm in place");
        }
    }

    [Test]
    public void L2NormRejectsBadScale() =>
        Assert.Throws<ArgumentException>(() => CpuL2Norm.Forward(1, 3, 2, 2, new float[12], new float[2], L2NormEpsilon.InsideSqrt, 1e-10f, new float[12]));
}
