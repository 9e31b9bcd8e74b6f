namespace Ssd.Kernels.Activation;

/// <summary>Plain C# reference: y = max(x, 0), element-wise.</summary>
public static class ReluReference
{
    public static void Forward(ReadOnlySpan<float> x, Span<float> y)
    {
        if (y.Length != x.Length) throw new ArgumentException("relu: input and output lengths differ");
        for (int i = 0; i < x.Length; i++) y[i] = x[i] > 0f ? x[i] : 0f;
    }
}
