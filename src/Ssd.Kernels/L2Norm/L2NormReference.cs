namespace Ssd.Kernels.L2Norm;

/// <summary>
/// Plain C# L2 normalisation across channels, separately at every pixel (Caffe Normalize with
/// across_spatial=false; SSD applies it to conv4_3 whose activations are much larger than the later layers').
/// </summary>
public static class L2NormReference
{
    /// <summary>y = x / norm * scale at every pixel, the norm over the channels with the epsilon where <paramref name="mode"/> puts it.</summary>
    /// <exception cref="ArgumentException">A length does not match the shape, or a dimension or eps is out of range.</exception>
    /// <param name="scale">One value (channel_shared) or one per channel.</param>
    /// <param name="n">The batch size.</param>
    /// <param name="c">The channels.</param>
    /// <param name="h">The height in elements.</param>
    /// <param name="w">The width in elements.</param>
    /// <param name="x">The input, row-major (NCHW for a feature map).</param>
    /// <param name="mode">Where the epsilon enters the norm (Caffe, ssd.pytorch or torchvision).</param>
    /// <param name="eps">The epsilon, where <paramref name="mode"/> places it.</param>
    /// <param name="y">Receives the output.</param>
    public static void Forward(int n, int c, int h, int w, ReadOnlySpan<float> x, ReadOnlySpan<float> scale,
        L2NormEpsilon mode, float eps, Span<float> y)
    {
        L2NormChecks.Shape(n, c, h, w, x.Length, y.Length, scale.Length);
        int plane = h * w;
        bool shared = scale.Length == 1;
        for (int b = 0; b < n; b++)
        for (int p = 0; p < plane; p++)
        {
            int first = b * c * plane + p;
            float sum = 0f;
            for (int k = 0; k < c; k++) { float v = x[first + k * plane]; sum += v * v; }
            float norm = Norm(sum, mode, eps);
            // Divide first, then scale: the order all three frameworks use.
            for (int k = 0; k < c; k++)
                y[first + k * plane] = x[first + k * plane] / norm * scale[shared ? 0 : k];
        }
    }

    internal static float Norm(float sumSquares, L2NormEpsilon mode, float eps) => mode switch
    {
        L2NormEpsilon.InsideSqrt => MathF.Sqrt(sumSquares + eps),
        L2NormEpsilon.AfterSqrt => MathF.Sqrt(sumSquares) + eps,
        L2NormEpsilon.ClampMin => MathF.Max(MathF.Sqrt(sumSquares), eps),
        _ => throw new ArgumentException($"l2norm: unknown epsilon mode {mode}"),
    };
}

internal static class L2NormChecks
{
    public static void Shape(int n, int c, int h, int w, long xLength, long yLength, long scaleLength)
    {
        if (n <= 0 || c <= 0 || h <= 0 || w <= 0) throw new ArgumentException($"l2norm: shape {n}x{c}x{h}x{w} has a non-positive dimension");
        long count = (long)n * c * h * w;
        if (count > int.MaxValue) throw new ArgumentException($"l2norm: shape {n}x{c}x{h}x{w} has more than 2^31 elements");
        if (xLength != count) throw new ArgumentException($"l2norm: input has {xLength} floats, shape {n}x{c}x{h}x{w} needs {count}");
        if (yLength != count) throw new ArgumentException($"l2norm: output has {yLength} floats, shape {n}x{c}x{h}x{w} needs {count}");
        if (scaleLength != 1 && scaleLength != c) throw new ArgumentException($"l2norm: scale has {scaleLength} values, expected 1 (channel_shared) or {c} (one per channel)");
    }
}
