namespace Ssd.Kernels.L2Norm;

/// <summary>Which formula the L2Norm backward uses for dx.</summary>
public enum L2NormGradient
{
    /// <summary>
    /// The gradient of the forward, as torch autograd computes it for all three flavours' forwards.
    /// </summary>
    Exact,
    /// <summary>
    /// Caffe's Normalize Backward_cpu (across_spatial false): dx_c = s_c * (dy_c - x_c * sum_k(x_k * dy_k) / norm^2)
    /// / norm, with norm^2 = sum x^2 + eps. It leaves the per-channel scale out of the dot product, so it equals
    /// <see cref="Exact"/> only for a shared scale; with SSD's per-channel conv4_3_norm it is what Caffe trained with.
    /// Only with <see cref="L2NormEpsilon.InsideSqrt"/> (Caffe's own norm).
    /// </summary>
    Caffe,
}

/// <summary>
/// Plain C# gradients of <see cref="L2NormReference"/>. Per pixel, with S = sum_k x_k^2, the forward's norm
/// N = f(S) (its float value, so both passes agree on it), y_k = x_k / N * s_k and D = sum_k s_k * dy_k * x_k:
/// <list type="bullet">
/// <item>dx_j = s_j * dy_j / N - x_j * D / N^2 * dN/dS * 2, where 2 dN/dS is 1/N for sqrt(S + eps) (Caffe),
/// 1/sqrt(S) for sqrt(S) + eps (ssd.pytorch) and, for max(sqrt(S), eps) (torchvision), 1/N where sqrt(S) &gt;= eps
/// (torch's clamp_min passes the gradient at equality) and 0 below;</item>
/// <item>ds_k = sum over images and pixels of dy_k * x_k / N (all channels summed for a shared scale).</item>
/// </list>
/// Where a formula divides by zero we take the limit: at an all-zero pixel, sqrt(S) + eps has D = 0 and
/// x_j = 0, so its second term is 0 (torch autograd gives NaN there: sqrt's backward at 0 is infinite, times
/// pow's 2x = 0); dx_j = s_j * dy_j / eps remains, the true derivative. Sums run in double, each result rounded
/// once. dx and ds are overwritten.
/// </summary>
public static class L2NormBackwardReference
{
    /// <summary>Computes dx and ds as the class summary defines.</summary>
    /// <param name="n">The batch size.</param>
    /// <param name="c">The channels.</param>
    /// <param name="h">The height.</param>
    /// <param name="w">The width.</param>
    /// <param name="x">The forward's input, NCHW.</param>
    /// <param name="scale">The learned scale, [c], or [1] when shared.</param>
    /// <param name="mode">Where the epsilon enters the norm.</param>
    /// <param name="eps">The epsilon.</param>
    /// <param name="dY">The gradient of the loss with respect to the output, NCHW.</param>
    /// <param name="dX">Receives the gradient with respect to x.</param>
    /// <param name="dScale">Receives the gradient with respect to the scale, shaped as it.</param>
    /// <param name="rule">The exact derivative, or a peer's rule where it differs at the clamp.</param>
    /// <exception cref="ArgumentException">A length does not match the shape.</exception>
    public static void Backward(int n, int c, int h, int w, ReadOnlySpan<float> x, ReadOnlySpan<float> scale,
        L2NormEpsilon mode, float eps, ReadOnlySpan<float> dY, Span<float> dX, Span<float> dScale,
        L2NormGradient rule = L2NormGradient.Exact)
    {
        L2NormBackwardChecks.Check(n, c, h, w, x.Length, scale.Length, mode, eps, dY.Length, dX.Length, dScale.Length, rule);
        int plane = h * w;
        bool shared = scale.Length == 1;
        var ds = new double[scale.Length];
        for (int b = 0; b < n; b++)
        for (int p = 0; p < plane; p++)
        {
            int first = b * c * plane + p;
            float sum = 0f;
            for (int k = 0; k < c; k++) { float v = x[first + k * plane]; sum += v * v; }
            double norm = L2NormReference.Norm(sum, mode, eps);
            // What multiplies x_j in dx_j: D * (2 dN/dS) / N^2.
            double dot = 0;
            for (int k = 0; k < c; k++)
            {
                int i = first + k * plane;
                double sk = rule == L2NormGradient.Caffe ? 1.0 : scale[shared ? 0 : k];
                dot += sk * dY[i] * x[i];
                ds[shared ? 0 : k] += (double)dY[i] * x[i] / norm;
            }
            double coefficient = dot / (norm * norm) * NormSlope(sum, norm, mode, eps);
            for (int k = 0; k < c; k++)
            {
                int i = first + k * plane;
                double sk = scale[shared ? 0 : k];
                dX[i] = rule == L2NormGradient.Caffe
                    ? (float)(sk * (dY[i] - x[i] * dot / (norm * norm)) / norm)
                    : (float)(sk * dY[i] / norm - x[i] * coefficient);
            }
        }
        for (int k = 0; k < ds.Length; k++) dScale[k] = (float)ds[k];
    }

    /// <summary>2 dN/dS at the forward's float sum and norm (see the class remarks), 0 where the limit is taken.</summary>
    internal static double NormSlope(float sumSquares, double norm, L2NormEpsilon mode, float eps) => mode switch
    {
        L2NormEpsilon.InsideSqrt => 1.0 / norm,
        L2NormEpsilon.AfterSqrt => sumSquares > 0f ? 1.0 / MathF.Sqrt(sumSquares) : 0.0,
        _ => MathF.Sqrt(sumSquares) >= eps && sumSquares > 0f ? 1.0 / norm : 0.0,
    };
}

internal static class L2NormBackwardChecks
{
    public static void Check(int n, int c, int h, int w, long xLength, long scaleLength, L2NormEpsilon mode, float eps,
        long dyLength, long dxLength, long dScaleLength, L2NormGradient rule)
    {
        L2NormChecks.Shape(n, c, h, w, xLength, dxLength, scaleLength);
        if (dyLength != xLength) throw new ArgumentException($"l2norm backward: dy has {dyLength} floats, x has {xLength}");
        if (dScaleLength != scaleLength) throw new ArgumentException($"l2norm backward: dscale has {dScaleLength} floats, the scale has {scaleLength}");
        if (!Enum.IsDefined(mode)) throw new ArgumentException($"l2norm: unknown epsilon mode {mode}");
        if (!(eps >= 0f)) throw new ArgumentException($"l2norm: epsilon {eps} must be a non-negative number");
        if (!Enum.IsDefined(rule)) throw new ArgumentException($"l2norm backward: unknown gradient rule {rule}");
        if (rule == L2NormGradient.Caffe && mode != L2NormEpsilon.InsideSqrt)
            throw new ArgumentException($"l2norm backward: Caffe's gradient formula goes with Caffe's norm (InsideSqrt), not {mode}");
    }
}
