using Ssd.Kernels.Activation;
using Ssd.Tests.Kernels.Backward;

namespace Ssd.Tests.Kernels.Activation;

/// <summary><see cref="ReluBackwardReference"/> against finite differences and torch autograd.</summary>
public class ReluBackwardTests
{
    [Test]
    public void ReferenceMatchesFiniteDifferencesAwayFromZero()
    {
        // Values at least 0.05 from the kink, so a 1e-2 step never crosses it.
        var x = TestData.Uniform(91, 64, -2f, 2f).Select(v => v >= 0 ? v + 0.05f : v - 0.05f).ToArray();
        var r = TestData.Uniform(92, 64);
        var (y, dx) = (new float[64], new float[64]);
        ReluReference.Forward(x, y);
        ReluBackwardReference.Backward(y, r, dx);
        double Loss() { ReluReference.Forward(x, y); return FiniteDifference.Dot(r, y); }
        FiniteDifference.AssertMatches(dx, FiniteDifference.Gradient(x, Loss, 1e-2), 1e-6, "dx");
    }

    [Test]
    public void ZeroNaNAndInfinity()
    {
        float[] y = [0f, -0f, float.NaN, float.PositiveInfinity, 1e-45f, 2f];
        float[] dy = [1f, 1f, 1f, 3f, 4f, float.NaN];
        var dx = new float[6];
        ReluBackwardReference.Backward(y, dy, dx);
        Assert.That(dx[..5], Is.EqualTo(new[] { 0f, 0f, 0f, 3f, 4f }));
        Assert.That(float.IsNaN(dx[5]), "a NaN gradient passes where the unit is active");
    }

    [Test]
    public void MatchesTorchAutogradBitForBit()
    {
        var f = BackwardFixtures.Case("relu4_3");
        var (y, dx) = (new float[f.F("x").Length], new float[f.F("x").Length]);
        ReluReference.Forward(f.F("x"), y);
        GradientAssert.BitExact(y, f.F("y"), "y");
        ReluBackwardReference.Backward(y, f.F("dy"), dx);
        GradientAssert.BitExact(dx, f.F("dx"), "dx");
    }
}
