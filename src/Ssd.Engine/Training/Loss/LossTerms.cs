namespace Ssd.Engine.Training.Loss;

/// <summary>
/// The two terms of the MultiBox objective for one prior, forward and backward, in float32 as the references
/// compute them: smooth L1 (beta 1) on a box offset, and softmax cross-entropy on a row of class logits.
/// </summary>
internal static class LossTerms
{
    /// <summary>FLT_MIN, the smallest normal float (Caffe's floor under a probability before its log).</summary>
    public const float FltMin = 1.17549435e-38f;

    /// <summary>Smooth L1 with beta 1: 0.5 d^2 below |d| = 1, |d| - 0.5 above.</summary>
    public static float SmoothL1(float d)
    {
        float a = MathF.Abs(d);
        return a < 1f ? 0.5f * d * d : a - 0.5f;
    }

    /// <summary>d SmoothL1 / d d: d inside (-1, 1), its sign outside.</summary>
    public static float SmoothL1Gradient(float d) => d < -1f ? -1f : d > 1f ? 1f : d;

    /// <summary>The row's maximum and sum of exp(x - max), in class order (the softmax's shift and denominator).</summary>
    public static (float Max, float Sum) SoftmaxStats(ReadOnlySpan<float> row)
    {
        float max = float.NegativeInfinity;
        foreach (float x in row) max = MathF.Max(max, x);
        float sum = 0f;
        foreach (float x in row) sum += MathF.Exp(x - max);
        return (max, sum);
    }

    /// <summary>torch's cross_entropy: -log_softmax(x)[t] = log(sum) - (x_t - max).</summary>
    public static float CrossEntropy(float xt, float max, float sum) => MathF.Log(sum) - (xt - max);

    /// <summary>Caffe's SoftmaxWithLoss: -log(max(p_t, FLT_MIN)) with p_t = exp(x_t - max) / sum.</summary>
    public static float ClampedCrossEntropy(float xt, float max, float sum) =>
        -MathF.Log(MathF.Max(MathF.Exp(xt - max) / sum, FltMin));

    /// <summary>d (scale x cross-entropy) / d x: scale (softmax(x) - onehot(t)), the same for both forms.</summary>
    public static void CrossEntropyGradient(ReadOnlySpan<float> row, int target, float max, float sum, float scale, Span<float> grad)
    {
        for (int c = 0; c < row.Length; c++) grad[c] = scale * (MathF.Exp(row[c] - max) / sum);
        grad[target] -= scale;
    }
}
