namespace Ssd.Tests.Kernels.Backward;

/// <summary>
/// Numerical gradients of a scalar loss by the five-point central stencil
/// (-f(x+2h) + 8 f(x+h) - 8 f(x-h) + f(x-2h)) / 12h, whose truncation error is O(h^4): with float forwards and the
/// loss summed in double, a step of 1e-2 leaves the rounding of the forward (~1e-7 relative) as the dominant error.
/// For a loss that is linear in the perturbed tensor (a convolution in its input or weights) any step is exact.
/// </summary>
public static class FiniteDifference
{
    /// <summary>d loss / d x[i] for every i in <paramref name="indices"/> (all when null); x is restored afterwards.</summary>
    public static double[] Gradient(float[] x, Func<double> loss, double h, IReadOnlyList<int>? indices = null)
    {
        indices ??= Enumerable.Range(0, x.Length).ToArray();
        var g = new double[x.Length];
        foreach (int i in indices)
        {
            float saved = x[i];
            double At(double step) { x[i] = (float)(saved + step); return loss(); }
            // Use the float steps actually taken, so the stencil's spacing is exact.
            double hf = (float)(saved + h) - saved;
            g[i] = (-At(2 * hf) + 8 * At(hf) - 8 * At(-hf) + At(-2 * hf)) / (12 * hf);
            x[i] = saved;
        }
        return g;
    }

    /// <summary>sum_i r[i] * y[i] in double: the loss whose gradient with respect to y is r.</summary>
    public static double Dot(ReadOnlySpan<float> r, ReadOnlySpan<float> y)
    {
        double s = 0;
        for (int i = 0; i < y.Length; i++) s += (double)r[i] * y[i];
        return s;
    }

    /// <summary>Asserts |analytic - numeric| &lt;= tolerance * max(1, max |numeric|) at every checked index.</summary>
    public static void AssertMatches(ReadOnlySpan<float> analytic, double[] numeric, double tolerance, string what, IReadOnlyList<int>? indices = null)
    {
        indices ??= Enumerable.Range(0, numeric.Length).ToArray();
        double scale = 1;
        foreach (int i in indices) scale = Math.Max(scale, Math.Abs(numeric[i]));
        foreach (int i in indices)
            if (!(Math.Abs(analytic[i] - numeric[i]) <= tolerance * scale))
                Assert.Fail($"{what}: element {i}: analytic {analytic[i]:G9}, finite differences {numeric[i]:G9} (tolerance {tolerance * scale:E2})");
    }
}
