namespace Ssd.Kernels.Preprocess;

/// <summary>
/// The per-column and per-row taps of torch.nn.functional.interpolate(mode="bilinear", align_corners=False) on
/// CPU float32 tensors (torch 1.13), computed with its exact arithmetic: scale = (float)in / out in float32;
/// the source coordinate (double)scale * (d + 0.5) - 0.5 in double, clamped at 0; index0 = its integer part,
/// index1 = index0 + 1 unless at the last input; lambda1 = (float)(src - index0) clamped to [0, 1],
/// lambda0 = 1 - lambda1 in float. Equal sizes copy (weights 1 and 0).
/// </summary>
internal static class TorchBilinearTables
{
    /// <summary>Columns then rows: index0, index1 per output column, then per output row.</summary>
    public static (int[] Index, float[] Lambda) Build(int srcWidth, int srcHeight, int dstWidth, int dstHeight)
    {
        var index = new int[2 * (dstWidth + dstHeight)];
        var lambda = new float[2 * (dstWidth + dstHeight)];
        Fill(index.AsSpan(0, 2 * dstWidth), lambda.AsSpan(0, 2 * dstWidth), srcWidth, dstWidth);
        Fill(index.AsSpan(2 * dstWidth), lambda.AsSpan(2 * dstWidth), srcHeight, dstHeight);
        return (index, lambda);
    }

    private static void Fill(Span<int> index, Span<float> lambda, int src, int dst)
    {
        float scale = (float)src / dst;
        for (int d = 0; d < dst; d++)
        {
            int i0, i1;
            float l0, l1;
            if (src == dst) { i0 = i1 = d; l0 = 1f; l1 = 0f; }
            else
            {
                double real = Math.Max((double)scale * (d + 0.5) - 0.5, 0.0);
                i0 = (int)real;
                i1 = i0 + (i0 < src - 1 ? 1 : 0);
                l1 = (float)Math.Clamp(real - i0, 0.0, 1.0);
                l0 = 1f - l1;
            }
            index[2 * d] = i0; index[2 * d + 1] = i1;
            lambda[2 * d] = l0; lambda[2 * d + 1] = l1;
        }
    }

    /// <summary>
    /// torch's 2-tap blend, as its AVX2 build evaluates t0 * w0 + t1 * w1: the second product rounded, the first
    /// fused into the sum (one FMA).
    /// </summary>
    public static float Blend(float t0, float w0, float t1, float w1) => MathF.FusedMultiplyAdd(t0, w0, t1 * w1);
}
