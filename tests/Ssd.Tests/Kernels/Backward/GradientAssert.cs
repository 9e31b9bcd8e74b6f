namespace Ssd.Tests.Kernels.Backward;

/// <summary>
/// Gradient comparisons in the style of ggml's test-backend-ops: a normalised error ||actual - expected|| /
/// ||expected|| (2-norms, in double) against a bound each test declares, or bit-exactness where both sides add
/// the same floats in the same order (<see cref="CpuVariants.AssertBits"/>). A NaN or infinity where the expected value is finite always fails.
/// </summary>
public static class GradientAssert
{
    public static double NormalizedError(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        double diff = 0, norm = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = (double)actual[i] - expected[i];
            diff += d * d;
            norm += (double)expected[i] * expected[i];
        }
        return norm == 0 ? Math.Sqrt(diff) : Math.Sqrt(diff / norm);
    }

    public static void Close(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double bound, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: length");
        for (int i = 0; i < expected.Length; i++)
            if (float.IsFinite(expected[i]) && !float.IsFinite(actual[i]))
                Assert.Fail($"{what}: element {i} is {actual[i]}, expected {expected[i]}");
        double error = NormalizedError(actual, expected);
        Assert.That(error, Is.LessThanOrEqualTo(bound), $"{what}: normalised error {error:E2} above the bound {bound:E1}");
    }
}
