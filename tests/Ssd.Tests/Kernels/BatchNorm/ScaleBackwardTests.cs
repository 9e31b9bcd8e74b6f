using Ssd.Kernels.BatchNorm;
using Ssd.Tests.Kernels.Backward;

namespace Ssd.Tests.Kernels.BatchNorm;

/// <summary><see cref="ScaleBackwardReference"/> against finite differences and torch autograd.</summary>
public class ScaleBackwardTests
{
    [TestCase(2, 3, 5, true)]
    [TestCase(1, 4, 1, false)]
    [TestCase(3, 1, 7, true)]
    public void ReferenceMatchesFiniteDifferences(int outer, int channels, int inner, bool bias)
    {
        var x = TestData.Uniform(61, outer * channels * inner);
        var s = TestData.Uniform(62, channels, 0.5f, 2f);
        var b = bias ? TestData.Uniform(63, channels) : [];
        var r = TestData.Uniform(64, x.Length);
        var y = new float[x.Length];
        double Loss()
        {
            for (int i = 0; i < x.Length; i++)
            {
                int k = i / inner % channels;
                y[i] = x[i] * s[k] + (bias ? b[k] : 0f);
            }
            return FiniteDifference.Dot(r, y);
        }
        var (dx, ds, db) = (new float[x.Length], new float[channels], new float[b.Length]);
        ScaleBackwardReference.Backward(outer, channels, inner, x, s, r, dx, ds, db);
        FiniteDifference.AssertMatches(dx, FiniteDifference.Gradient(x, Loss, 0.25), 1e-5, "dx");
        FiniteDifference.AssertMatches(ds, FiniteDifference.Gradient(s, Loss, 0.25), 1e-5, "dscale");
        if (bias) FiniteDifference.AssertMatches(db, FiniteDifference.Gradient(b, Loss, 0.25), 1e-5, "dbias");
    }

    [Test]
    public void BadInputIsRefused()
    {
        var x = new float[12];
        Assert.Throws<ArgumentException>(() => ScaleBackwardReference.Backward(2, 3, 2, x, new float[2], x, x, new float[3], []));
        Assert.Throws<ArgumentException>(() => ScaleBackwardReference.Backward(2, 3, 2, x, new float[3], x.AsSpan(1), x, new float[3], []));
        Assert.Throws<ArgumentException>(() => ScaleBackwardReference.Backward(2, 3, 2, x, new float[3], x, x, new float[3], new float[2]));
        Assert.Throws<ArgumentException>(() => ScaleBackwardReference.Backward(0, 3, 2, x, new float[3], x, x, new float[3], []));
    }

    [Test]
    public void MatchesTorchAutograd()
    {
        var f = BackwardFixtures.Case("scale");
        var s = f.Shape("x");
        var (dx, ds, db) = (new float[f.F("x").Length], new float[s[1]], new float[s[1]]);
        ScaleBackwardReference.Backward(s[0], s[1], s[2] * s[3], f.F("x"), f.F("scale"), f.F("dy"), dx, ds, db);
        CpuVariants.AssertBits(dx, f.F("dx"), "dx: one multiply");
        GradientAssert.Close(ds, f.F("dscale"), 1e-6, "dscale");
        GradientAssert.Close(db, f.F("dbias"), 1e-6, "dbias");
    }
}
