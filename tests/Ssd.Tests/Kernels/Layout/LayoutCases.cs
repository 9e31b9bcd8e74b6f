using Ssd.Kernels.Core;
using Ssd.Kernels.Layout;
using Ssd.Tests.Kernels.OpMatrix;
using static Ssd.Tests.Kernels.OpMatrix.OpMatrix;

namespace Ssd.Tests.Kernels.Layout;

/// <summary>Permute (every order of a small odd tensor, the SSD heads' NCHW to NHWC) and row concatenation (SSD300's
/// six conf heads, odd row lengths, batch 2) for the op matrix.</summary>
public sealed class LayoutCases : IOpCaseList
{
    private static readonly int[][] Orders =
        [.. from a in Enumerable.Range(0, 4) from b in Enumerable.Range(0, 4) from c in Enumerable.Range(0, 4) from d in Enumerable.Range(0, 4)
            where new[] { a, b, c, d }.Distinct().Count() == 4 select new[] { a, b, c, d }];

    public static IEnumerable<IOpCase> Cases =>
        Orders.Select(o => Permute([2, 5, 7, 3], o, CaseSize.Small))
            .Append(Permute([1, 126, 38, 38], PermuteGeometry.NchwToNhwc, CaseSize.Large))
            .Append(Permute([2, 24, 10, 10], PermuteGeometry.NchwToNhwc, CaseSize.Small))
            .Append(Concat(2, [2 * 7, 2 * 1, 2 * 13], CaseSize.Small))
            .Append(Concat(1, [38 * 38 * 84, 19 * 19 * 126, 10 * 10 * 126, 5 * 5 * 126, 3 * 3 * 84, 84], CaseSize.Large))
            .Concat(Orders.Select(o => PermuteBackward([2, 5, 7, 3], o, CaseSize.Small)))
            .Append(PermuteBackward([2, 16, 38, 38], PermuteGeometry.NchwToNhwc, CaseSize.Large))
            .Append(ConcatBackward(2, [2 * 7, 2 * 1, 2 * 13], CaseSize.Small))
            .Append(ConcatBackward(2, [2 * 38 * 38 * 16, 2 * 19 * 19 * 24, 2 * 10 * 10 * 24, 2 * 5 * 5 * 24, 2 * 3 * 3 * 16, 2 * 16], CaseSize.Large));

    /// <summary>Backward reads only dy (the permuted tensor); writes dx in the input's layout.</summary>
    private static IOpCase PermuteBackward(int[] dims, int[] order, CaseSize size)
    {
        long n = dims.Aggregate(1L, (a, b) => a * b);
        return new OpCase<PermuteParams>($"permute backward {string.Join("x", dims)} order {string.Join("", order)}", LayoutVariants.Permute, OpPass.Backward,
            new PermuteParams(dims, order), [Uniform(42, n)], [n], size);
    }

    /// <summary>Backward reads dy [rows, sum of lengths]; writes each input's gradient.</summary>
    private static IOpCase ConcatBackward(int rows, int[] lengths, CaseSize size) =>
        new OpCase<ConcatParams>($"concat backward {rows} rows of {string.Join("+", lengths.Select(l => l / rows))}", LayoutVariants.Concat, OpPass.Backward,
            new ConcatParams(rows), [Uniform(60, lengths.Sum())], [.. lengths.Select(l => (long)l)], size);

    private static IOpCase Permute(int[] dims, int[] order, CaseSize size)
    {
        long n = dims.Aggregate(1L, (a, b) => a * b);
        return new OpCase<PermuteParams>($"permute {string.Join("x", dims)} order {string.Join("", order)}", LayoutVariants.Permute, OpPass.Forward,
            new PermuteParams(dims, order), [Uniform(41, n)], [n], size);
    }

    private static IOpCase Concat(int rows, int[] lengths, CaseSize size) =>
        new OpCase<ConcatParams>($"concat {rows} rows of {string.Join("+", lengths.Select(l => l / rows))}", LayoutVariants.Concat, OpPass.Forward,
            new ConcatParams(rows), [.. lengths.Select((l, t) => Uniform(50 + t, l))], [lengths.Sum()], size);
}
