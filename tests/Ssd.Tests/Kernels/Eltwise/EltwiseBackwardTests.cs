using Ssd.Kernels.Eltwise;
using Ssd.Tests.Kernels.Backward;

namespace Ssd.Tests.Kernels.Eltwise;

/// <summary><see cref="EltwiseBackwardReference"/> against finite differences, Caffe's tie rule, and torch autograd.</summary>
public class EltwiseBackwardTests
{
    private const int Count = 40;

    private static float[][] Inputs(int seed, int k) => Enumerable.Range(0, k).Select(i => TestData.Uniform(seed + i, Count, -2f, 2f)).ToArray();

    private static float[][] Grads(int k) => Enumerable.Range(0, k).Select(_ => new float[Count]).ToArray();

    /// <summary>The forward, written out for the finite differences.</summary>
    private static float Forward(string op, float[][] xs, float[] coeffs, int i) => op switch
    {
        "sum" => xs.Select((x, k) => (coeffs.Length > 0 ? coeffs[k] : 1f) * x[i]).Sum(),
        "prod" => xs.Aggregate(1f, (p, x) => p * x[i]),
        _ => xs.Max(x => x[i]),
    };

    [TestCase("sum", 2, false)]
    [TestCase("sum", 3, true)]
    [TestCase("prod", 2, false)]
    [TestCase("prod", 4, false)]
    [TestCase("max", 2, false)]
    [TestCase("max", 3, false)]
    public void ReferenceMatchesFiniteDifferences(string op, int k, bool weighted)
    {
        var xs = Inputs(71, k);
        float[] coeffs = weighted ? [1f, -0.5f, 2f] : [];
        var r = TestData.Uniform(79, Count);
        var dxs = Grads(k);
        switch (op)
        {
            case "sum": EltwiseBackwardReference.SumBackward(coeffs, r, dxs); break;
            case "prod": EltwiseBackwardReference.ProductBackward(xs, r, dxs); break;
            default: EltwiseBackwardReference.MaxBackward(xs, r, dxs); break;
        }
        var y = new float[Count];
        double Loss() { for (int i = 0; i < Count; i++) y[i] = Forward(op, xs, coeffs, i); return FiniteDifference.Dot(r, y); }
        // Sum and product are linear in each input (exact for any step); max is piecewise linear, a small step stays
        // on one piece and the forward only selects (no rounding).
        double h = op == "max" ? 1e-3 : 0.25;
        for (int j = 0; j < k; j++)
            FiniteDifference.AssertMatches(dxs[j], FiniteDifference.Gradient(xs[j], Loss, h), 1e-5, $"{op}: dx{j}");
    }

    [Test]
    public void MaxTiesFollowCaffesMask()
    {
        // x0 == x1: the first pair's "x0 > x1 ? 0 : 1" gives input 1. x2 equal to the running max never takes it.
        float[][] xs = [[1f, 2f, 0f], [1f, 1f, 0f], [1f, 2f, 0f]];
        var dxs = Enumerable.Range(0, 3).Select(_ => new float[3]).ToArray();
        EltwiseBackwardReference.MaxBackward(xs, [10f, 20f, 30f], dxs);
        Assert.That(dxs[0], Is.EqualTo(new[] { 0f, 20f, 0f }));
        Assert.That(dxs[1], Is.EqualTo(new[] { 10f, 0f, 30f }));
        Assert.That(dxs[2], Is.EqualTo(new[] { 0f, 0f, 0f }));
    }

    [Test]
    public void ProductGradientIsFiniteWhereAnInputIsZero()
    {
        float[][] xs = [[0f, 2f], [3f, 0f], [4f, 5f]];
        var dxs = Enumerable.Range(0, 3).Select(_ => new float[2]).ToArray();
        EltwiseBackwardReference.ProductBackward(xs, [1f, 1f], dxs);
        Assert.That(dxs[0], Is.EqualTo(new[] { 12f, 0f }));
        Assert.That(dxs[1], Is.EqualTo(new[] { 0f, 10f }));
        Assert.That(dxs[2], Is.EqualTo(new[] { 0f, 0f }));
    }

    [Test]
    public void BadInputIsRefused()
    {
        var xs = Inputs(1, 2);
        Assert.Throws<ArgumentException>(() => EltwiseBackwardReference.SumBackward([1f], new float[Count], Grads(2)));
        Assert.Throws<ArgumentException>(() => EltwiseBackwardReference.SumBackward([], new float[Count], Grads(1)));
        Assert.Throws<ArgumentException>(() => EltwiseBackwardReference.MaxBackward(xs, new float[Count - 1], Grads(2)));
        Assert.Throws<ArgumentException>(() => EltwiseBackwardReference.ProductBackward(xs, new float[Count], Grads(3)));
    }

    [TestCase("eltwise_sum")]
    [TestCase("eltwise_prod")]
    [TestCase("eltwise_max")]
    public void MatchesTorchAutograd(string name)
    {
        var f = BackwardFixtures.Case(name);
        int k = f.Int("inputs");
        var xs = Enumerable.Range(0, k).Select(i => f.F($"x{i}")).ToArray();
        var dy = f.F("dy");
        var dxs = Enumerable.Range(0, k).Select(_ => new float[dy.Length]).ToArray();
        switch (f.Json.GetProperty("operation").GetString())
        {
            case "sum":
                var coeffs = f.Json.GetProperty("coeffs").EnumerateArray().Select(c => c.GetSingle()).ToArray();
                EltwiseBackwardReference.SumBackward(coeffs, dy, dxs);
                break;
            case "prod": EltwiseBackwardReference.ProductBackward(xs, dy, dxs); break;
            default: EltwiseBackwardReference.MaxBackward(xs, dy, dxs); break;
        }
        // A sum's and a max's gradient are single roundings: bit for bit. torch forms a product's gradient as
        // (dy * x_j) * x_k (autograd's chain), Caffe as (x_j * x_k) * dy: a rounding apart.
        for (int i = 0; i < k; i++)
            if (name == "eltwise_prod") GradientAssert.Close(dxs[i], f.F($"dx{i}"), 1e-6, $"{name}: dx{i}");
            else CpuVariants.AssertBits(dxs[i], f.F($"dx{i}"), $"{name}: dx{i}");
    }
}
