using Ssd.Kernels.Cpu;
using Ssd.Kernels.Core;
using Ssd.Kernels.Pooling;
using static Ssd.Tests.Kernels.CpuVariants;

namespace Ssd.Tests.Kernels.Pooling;

/// <summary>The CPU backend's pooling against its plain reference, bit for bit, at every ISA level this CPU runs, on odd shapes and the SSD300 sizes.</summary>
public class CpuPoolingTests
{
    public sealed record PoolCase(string Name, TensorShape Input, int KH, int KW, int SH, int SW, int PH, int PW, PoolOutputRule Rule, bool Global = false)
    {
        public PoolGeometry Geometry => Global ? PoolGeometry.Global(Input) : PoolGeometry.Create(Input, KH, KW, SH, SW, PH, PW, Rule);
        public override string ToString() => Name;
    }

    private static readonly PoolCase[] PoolCases =
    [
        new("SSD300 pool1 Caffe ceil 64x300x300", new(1, 64, 300, 300), 2, 2, 2, 2, 0, 0, PoolOutputRule.CaffeCeil),
        new("SSD300 pool3 ceil 256x75x75 -> 38", new(1, 256, 75, 75), 2, 2, 2, 2, 0, 0, PoolOutputRule.TorchCeil),
        new("SSD300 pool5 3x3 s1 p1 512x19x19", new(1, 512, 19, 19), 3, 3, 1, 1, 1, 1, PoolOutputRule.CaffeCeil),
        new("odd k3 s2 p1 Caffe ceil", new(2, 3, 7, 9), 3, 3, 2, 2, 1, 1, PoolOutputRule.CaffeCeil),
        new("odd k3 s2 p1 torch floor", new(2, 3, 7, 9), 3, 3, 2, 2, 1, 1, PoolOutputRule.TorchFloor),
        new("odd k3 s2 p1 torch ceil", new(2, 3, 8, 10), 3, 3, 2, 2, 1, 1, PoolOutputRule.TorchCeil),
        new("k2 s2 odd 7x5 Caffe ceil", new(1, 2, 7, 5), 2, 2, 2, 2, 0, 0, PoolOutputRule.CaffeCeil),
        new("k2 s2 wide 37x71 ceil (vector + tail)", new(1, 3, 37, 71), 2, 2, 2, 2, 0, 0, PoolOutputRule.CaffeCeil),
        new("k3 s2 p1 wide 9x67 floor", new(1, 2, 9, 67), 3, 3, 2, 2, 1, 1, PoolOutputRule.TorchFloor),
        new("k3 s3 (scalar stride) 13x40 ceil", new(1, 2, 13, 40), 3, 3, 3, 3, 0, 0, PoolOutputRule.TorchCeil),
        new("1x3 kernel s1 pad 0x1 wide", new(1, 2, 5, 53), 1, 3, 1, 1, 0, 1, PoolOutputRule.TorchFloor),
        new("k5 s1 p2 batch 2", new(2, 3, 11, 35), 5, 5, 1, 1, 2, 2, PoolOutputRule.CaffeCeil),
        new("global 6x7", new(2, 5, 6, 7), 0, 0, 0, 0, 0, 0, PoolOutputRule.CaffeCeil, Global: true),
        new("global 10x40", new(1, 3, 10, 40), 0, 0, 0, 0, 0, 0, PoolOutputRule.CaffeCeil, Global: true),
    ];

    private static IEnumerable<TestCaseData> PoolSource =>
        from c in PoolCases from isa in Isas select new TestCaseData(c, isa).SetArgDisplayNames(c.Name, isa.ToString());

    [TestCaseSource(nameof(PoolSource))]
    public void MaxPoolIsReference(PoolCase c, CpuIsa isa)
    {
        var g = c.Geometry;
        var x = Spiky(11, g.Input.Count);
        var expected = new float[g.Output.Count];
        var actual = new float[g.Output.Count];
        PoolReference.Max(g, x, expected);
        CpuPooling.Max(g, x, actual, Options(isa));
        AssertBits(actual, expected, $"max pool {c.Name}");
    }

    [TestCaseSource(nameof(PoolSource))]
    public void AveragePoolIsReference(PoolCase c, CpuIsa isa)
    {
        var g = c.Geometry;
        var x = Spiky(12, g.Input.Count);
        foreach (var divisor in new[] { AvgPoolDivisor.PaddedWindow, AvgPoolDivisor.ValidWindow })
        {
            var expected = new float[g.Output.Count];
            var actual = new float[g.Output.Count];
            PoolReference.Average(g, divisor, x, expected);
            CpuPooling.Average(g, divisor, x, actual, Options(isa));
            AssertBits(actual, expected, $"average pool {c.Name} {divisor}");
        }
    }

    [Test]
    public void PoolingRejectsWrongLengths()
    {
        var g = PoolGeometry.Create(new TensorShape(1, 2, 4, 4), 2, 2, 0, PoolOutputRule.TorchFloor);
        Assert.Throws<ArgumentException>(() => CpuPooling.Max(g, new float[31], new float[8]));
        Assert.Throws<ArgumentException>(() => CpuPooling.Average(g, AvgPoolDivisor.ValidWindow, new float[32], new float[9]));
    }
}
