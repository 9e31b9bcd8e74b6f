namespace Ssd.Kernels.Activation;

/// <summary>Plain C# reference: y = max(x, 0), element-wise.</summary>
public static class ReluReference
{
    /// <summary>y = max(x, 0) element by element (a NaN gives 0; -0 gives +0).</summary>
    /// <param name="x">The input.</param>
    /// <param name="y">Receives the output; as long as x (may be x itself).</param>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    public static void Forward(ReadOnlySpan<float> x, Span<float> y)
    {
        if (y.Length != x.Length) throw new ArgumentException("relu: input and output lengths differ");
        for (int i = 0; i < x.Length; i++) y[i] = x[i] > 0f ? x[i] : 0f;
    }
}
