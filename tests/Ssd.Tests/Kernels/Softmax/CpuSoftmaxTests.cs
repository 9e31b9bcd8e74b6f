using Ssd.Kernels.Cpu;
using Ssd.Kernels.Softmax;
using static Ssd.Tests.Kernels.CpuVariants;

namespace Ssd.Tests.Kernels.Softmax;

/// <summary>The CPU backend's softmax against its plain reference, bit for bit, at every ISA level this CPU runs.</summary>
public class CpuSoftmaxTests
{
    private static IEnumerable<TestCaseData> SoftmaxSource =>
        from shape in new[] { (8732, 21, 1), (8732, 91, 1), (3, 5, 1), (2, 5, 37), (1, 21, 300), (3, 4, 1000) }
        from isa in Isas
        select new TestCaseData(shape.Item1, shape.Item2, shape.Item3, isa);

    [TestCaseSource(nameof(SoftmaxSource))]
    public void SoftmaxIsReference(int outer, int classes, int inner, CpuIsa isa)
    {
        var x = Spiky(31, (long)outer * classes * inner);
        var expected = new float[x.Length];
        var actual = new float[x.Length];
        SoftmaxReference.Forward(outer, classes, inner, x, expected);
        CpuSoftmax.Forward(outer, classes, inner, x, actual, Options(isa));
        AssertBits(actual, expected, $"softmax [{outer}, {classes}, {inner}]");
        CpuSoftmax.Forward(outer, classes, inner, x, x, Options(isa));
        AssertBits(x, expected, "softmax in place");
    }

    [Test]
    public void SoftmaxRejectsWrongLength() =>
        Assert.Throws<ArgumentException>(() => CpuSoftmax.Forward(2, 3, 4, new float[24], new float[23]));
}
