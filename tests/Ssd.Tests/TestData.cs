namespace Ssd.Tests;

/// <summary>Deterministic random data and tolerant comparisons for kernel tests.</summary>
public static class TestData
{
    public static float[] Uniform(int seed, long count, float lo = -1f, float hi = 1f)
    {
        var rng = new Random(seed);
        var a = new float[count];
        for (long i = 0; i < count; i++) a[i] = lo + (hi - lo) * rng.NextSingle();
        return a;
    }

    /// <summary>Asserts |a-b| &lt;= atol + rtol*|b| element-wise, naming the first bad index.</summary>
    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, float rtol = 1e-5f, float atol = 1e-5f, string what = "")
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: length");
        for (int i = 0; i < actual.Length; i++)
        {
            float a = actual[i], e = expected[i];
            if (float.IsNaN(e) ? !float.IsNaN(a) : !(MathF.Abs(a - e) <= atol + rtol * MathF.Abs(e)))
                Assert.Fail($"{what}: element {i} is {a}, expected {e} (rtol {rtol}, atol {atol})");
        }
    }
}
