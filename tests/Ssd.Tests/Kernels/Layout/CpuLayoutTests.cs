using Ssd.Kernels.Cpu;
using Ssd.Kernels.Layout;
using static Ssd.Tests.Kernels.CpuVariants;

namespace Ssd.Tests.Kernels.Layout;

/// <summary>The CPU backend's permute and concat against their plain references, bit for bit.</summary>
public class CpuLayoutTests
{
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
}
