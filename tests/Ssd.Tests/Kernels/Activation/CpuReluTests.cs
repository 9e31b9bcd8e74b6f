using Ssd.Kernels.Cpu;
using Ssd.Kernels.Activation;
using static Ssd.Tests.Kernels.CpuVariants;

namespace Ssd.Tests.Kernels.Activation;

/// <summary>The CPU backend's ReLU against its plain reference, bit for bit, at every ISA level this CPU runs.</summary>
public class CpuReluTests
{
    private static IEnumerable<TestCaseData> ReluSource =>
        from length in new[] { 1, 17, 100003, 512 * 38 * 38 } from isa in Isas select new TestCaseData(length, isa);

    [TestCaseSource(nameof(ReluSource))]
    public void ReluIsReference(int length, CpuIsa isa)
    {
        var x = Spiky(61, length);
        var expected = new float[length];
        var actual = new float[length];
        ReluReference.Forward(x, expected);
        CpuRelu.Forward(x, actual, Options(isa));
        AssertBits(actual, expected, "relu");
        CpuRelu.Forward(x, x, Options(isa));
        AssertBits(x, expected, "relu in place");
    }
}
