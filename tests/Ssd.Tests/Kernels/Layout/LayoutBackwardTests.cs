using Ssd.Kernels.Layout;
using Ssd.Tests.Kernels.Backward;

namespace Ssd.Tests.Kernels.Layout;

/// <summary>
/// <see cref="LayoutBackwardReference"/>: permute's, concat's and reshape's gradients are exact moves, checked against
/// finite differences on small shapes and bit for bit against torch autograd on SSD300's mbox_loc / mbox_conf.
/// </summary>
public class LayoutBackwardTests
{
    public static IEnumerable<int[]> Orders() => [[0, 2, 3, 1], [0, 1, 2, 3], [3, 2, 1, 0], [1, 0, 3, 2], [2, 0, 1, 3]];

    [TestCaseSource(nameof(Orders))]
    public void PermuteGradientMatchesFiniteDifferences(int[] order)
    {
        int[] dims = [2, 3, 4, 2];
        var x = TestData.Uniform(81, 48);
        var r = TestData.Uniform(82, 48);
        var (y, dx) = (new float[48], new float[48]);
        LayoutBackwardReference.Permute(dims, order, r, dx);
        double Loss() { LayoutReference.Permute(dims, order, x, y); return FiniteDifference.Dot(r, y); }
        FiniteDifference.AssertMatches(dx, FiniteDifference.Gradient(x, Loss, 0.5), 1e-6, string.Join(",", order));
    }

    [Test]
    public void ConcatGradientMatchesFiniteDifferences()
    {
        const int rows = 3;
        float[][] xs = [TestData.Uniform(83, rows * 4), TestData.Uniform(84, rows * 1), TestData.Uniform(85, rows * 6)];
        var r = TestData.Uniform(86, rows * 11);
        var dxs = xs.Select(x => new float[x.Length]).ToArray();
        LayoutBackwardReference.ConcatRows(rows, r, dxs);
        var y = new float[r.Length];
        double Loss() { LayoutReference.ConcatRows(rows, xs, y); return FiniteDifference.Dot(r, y); }
        for (int t = 0; t < xs.Length; t++)
            FiniteDifference.AssertMatches(dxs[t], FiniteDifference.Gradient(xs[t], Loss, 0.5), 1e-6, $"input {t}");
    }

    [Test]
    public void BadInputIsRefused()
    {
        Assert.Throws<ArgumentException>(() => LayoutBackwardReference.Permute([2, 3, 4, 2], [0, 2, 3, 1], new float[47], new float[48]));
        Assert.Throws<ArgumentException>(() => LayoutBackwardReference.Permute([2, 3, 4, 2], [0, 2, 2, 1], new float[48], new float[48]));
        Assert.Throws<ArgumentException>(() => LayoutBackwardReference.ConcatRows(3, new float[10], [new float[6], new float[3]]));
        Assert.Throws<ArgumentException>(() => LayoutBackwardReference.Reshape(new float[5], new float[6]));
    }

    [TestCase("mbox_loc")]
    [TestCase("mbox_conf")]
    public void HeadsPermuteFlattenConcatMatchTorchBitForBit(string name)
    {
        var f = BackwardFixtures.Case(name);
        int k = f.Int("inputs");
        int batch = f.Shape("x0")[0];
        var dy = f.F("dy");
        var split = Enumerable.Range(0, k).Select(i => new float[f.F($"x{i}").Length]).ToArray();
        LayoutBackwardReference.ConcatRows(batch, dy, split);
        for (int i = 0; i < k; i++)
        {
            var dx = new float[split[i].Length];
            LayoutBackwardReference.Reshape(split[i], dx);      // flatten(1): the same floats as [N, H, W, C]
            var dIn = new float[dx.Length];
            LayoutBackwardReference.Permute(f.Shape($"x{i}"), PermuteGeometry.NchwToNhwc, dx, dIn);
            CpuVariants.AssertBits(dIn, f.F($"dx{i}"), $"{name}: head {i}");
        }
    }
}
