namespace Ssd.Kernels.Activation;

/// <summary>
/// Plain C# reference of ReLU's backward, from the forward's output y (what in-place ReLU leaves, and what torch's
/// threshold_backward(dy, y, 0) reads): dx = y &lt;= 0 ? 0 : dy. Where y &gt; 0 the gradient passes unchanged, bits
/// included; elsewhere it is +0 (a NaN y lets dy through, as torch does).
/// </summary>
public static class ReluBackwardReference
{
    /// <summary>dx = y &lt;= 0 ? 0 : dy, element by element.</summary>
    /// <param name="y">The forward's output.</param>
    /// <param name="dy">The gradient of the loss with respect to y.</param>
    /// <param name="dx">Receives the gradient with respect to the input.</param>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    public static void Backward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        if (dy.Length != y.Length || dx.Length != y.Length) throw new ArgumentException("relu backward: output, gradient and input gradient lengths differ");
        for (int i = 0; i < y.Length; i++) dx[i] = y[i] <= 0f ? 0f : dy[i];
    }
}
