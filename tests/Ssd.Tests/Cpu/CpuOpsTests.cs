using Ssd.Engine.Backends.Cpu;
using Ssd.Kernels.Activation;
using Ssd.Kernels.Core;
using Ssd.Kernels.L2Norm;
using Ssd.Kernels.Layout;
using Ssd.Kernels.Pooling;
using Ssd.Kernels.Softmax;

namespace Ssd.Tests.Cpu;

/// <summary>
/// The CPU backend's memory-bound ops against their plain references, bit for bit (NaN matches any NaN), at every
/// ISA level this CPU runs, on odd shapes and the SSD300 sizes, with 2 worker threads (the small shapes run on one).
/// </summary>
public class CpuOpsTests
{
    private static IEnumerable<CpuIsa> Isas => Enum.GetValues<CpuIsa>();

    private static CpuOpOptions Options(CpuIsa isa)
    {
        Assume.That(CpuIsaSupport.IsSupported(isa), $"this CPU lacks {isa}");
        return new CpuOpOptions(isa, 2);
    }

    internal static void AssertBits(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: length");
        for (int i = 0; i < actual.Length; i++)
        {
            bool same = float.IsNaN(expected[i]) ? float.IsNaN(actual[i]) : BitConverter.SingleToInt32Bits(actual[i]) == BitConverter.SingleToInt32Bits(expected[i]);
            if (!same) Assert.Fail($"{what}: element {i} is {actual[i]:R} (0x{BitConverter.SingleToInt32Bits(actual[i]):x8}), reference {expected[i]:R} (0x{BitConverter.SingleToInt32Bits(expected[i]):x8})");
        }
    }

    /// <summary>Uniform data with NaN, infinities and both zeros sprinkled in (they decide ties and NaN flow).</summary>
    internal static float[] Spiky(int seed, long count)
    {
        var x = TestData.Uniform(seed, count, -3f, 3f);
        var rng = new Random(seed);
        float[] special = [float.NaN, -0f, 0f, float.NegativeInfinity, float.PositiveInfinity, -0f, 0f];
        for (int k = 0; k < count / 13; k++) x[rng.Next((int)count)] = special[rng.Next(special.Length)];
        return x;
    }

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

    private static readonly int[][] AllOrders =
        (from a in Enumerable.Range(0, 4) from b in Enumerable.Range(0, 4) from c in Enumerable.Range(0, 4) from d in Enumerable.Range(0, 4)
         where new[] { a, b, c, d }.Distinct().Count() == 4 select new[] { a, b, c, d }).ToArray();

    private static IEnumerable<TestCaseData> PermuteSource =>
        (from dims in new[] { new[] { 1, 126, 38, 38 }, new[] { 1, 84, 19, 19 }, new[] { 2, 24, 10, 10 } }
         select new TestCaseData(dims, PermuteGeometry.NchwToNhwc).SetArgDisplayNames($"NCHW->NHWC {string.Join("x", dims)}"))
        .Concat(from order in AllOrders
                select new TestCaseData(new[] { 2, 5, 7, 3 }, order).SetArgDisplayNames($"2x5x7x3 order {string.Join("", order)}"))
        .Concat(from order in AllOrders
                select new TestCaseData(new[] { 3, 33, 17, 20 }, order).SetArgDisplayNames($"3x33x17x20 order {string.Join("", order)}"));

    [TestCaseSource(nameof(PermuteSource))]
    public void PermuteIsReference(int[] dims, int[] order)
    {
        var x = TestData.Uniform(41, dims.Aggregate(1L, (a, b) => a * b));
        var expected = new float[x.Length];
        var actual = new float[x.Length];
        LayoutReference.Permute(dims, order, x, expected);
        CpuLayout.Permute(dims, order, x, actual, new CpuOpOptions(Threads: 2));
        AssertBits(actual, expected, "permute");
    }

    [Test]
    public void ConcatMatchesReferenceOnSsdHeads()
    {
        // SSD300's six flattened conf heads (boxes x 21 per cell), one image, then two rows of odd lengths.
        foreach (var (rows, lengths) in new[] { (1, new[] { 38 * 38 * 84, 19 * 19 * 126, 10 * 10 * 126, 5 * 5 * 126, 3 * 3 * 84, 84 }), (2, new[] { 2 * 7, 2 * 1, 2 * 13 }), (3, new[] { 3 * 40000, 3 * 5 }) })
        {
            var inputs = lengths.Select((l, t) => TestData.Uniform(50 + t, l)).ToArray();
            var expected = new float[lengths.Sum()];
            LayoutReference.ConcatRows(rows, inputs, expected);
            // The inputs as slices of one buffer, in a different order and with gaps, as in an arena.
            var source = new float[lengths.Sum() + 10 * lengths.Length];
            var offsets = new int[lengths.Length];
            int at = 3;
            for (int t = lengths.Length - 1; t >= 0; t--)
            {
                offsets[t] = at;
                inputs[t].CopyTo(source, at);
                at += lengths[t] + 7;
            }
            var actual = new float[expected.Length];
            CpuLayout.ConcatRows(rows, source, offsets, lengths, actual, new CpuOpOptions(Threads: 2));
            AssertBits(actual, expected, $"concat {rows} rows");
            Assert.That(expected.Sum(), Is.EqualTo(inputs.Sum(a => a.Sum())).Within(1e-2), "the reference saw every input");
        }
    }

    [Test]
    public void ConcatRejectsBadInputs()
    {
        Assert.Throws<ArgumentException>(() => CpuLayout.ConcatRows(2, new float[10], [0], [5], new float[5]));
        Assert.Throws<ArgumentException>(() => CpuLayout.ConcatRows(1, new float[10], [8], [5], new float[5]));
        Assert.Throws<ArgumentException>(() => CpuLayout.ConcatRows(1, new float[10], [0], [5], new float[6]));
    }

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
