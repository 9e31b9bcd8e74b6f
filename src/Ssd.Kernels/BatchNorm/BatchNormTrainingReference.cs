namespace Ssd.Kernels.BatchNorm;

/// <summary>
/// Plain C# batch normalisation in training mode over NCHW, per channel c with m = N * H * W values:
/// mean_c = sum x / m, var_c = sum (x - mean_c)^2 / m (biased, what both frameworks normalise with),
/// invstd_c = 1 / sqrt(var_c + eps), y = (x - mean_c) * invstd_c * gamma_c + beta_c (gamma 1 and beta 0 when the
/// layer has no affine part, as Caffe's BatchNorm, whose Scale layer follows it). Statistics accumulate in double
/// (torch's CPU kernel does the same for float tensors); y is rounded once. The saved mean and invstd are what
/// <see cref="BatchNormBackwardReference"/> reads. The running statistics are updated separately, in either
/// framework's convention (<see cref="UpdateTorchRunningStats"/>, <see cref="UpdateCaffeMovingAverages"/>).
/// </summary>
public static class BatchNormTrainingReference
{
    /// <summary>Normalises with the batch statistics and saves them, as the class summary defines.</summary>
    /// <param name="gamma">[C], or empty for no affine scale.</param>
    /// <param name="beta">[C], or empty for no affine shift.</param>
    /// <param name="mean">Written: the batch mean per channel.</param>
    /// <param name="variance">Written: the biased batch variance per channel.</param>
    /// <param name="invStd">Written: 1 / sqrt(variance + eps) per channel.</param>
    /// <param name="n">The batch size.</param>
    /// <param name="c">The channels.</param>
    /// <param name="h">The height in elements.</param>
    /// <param name="w">The width in elements.</param>
    /// <param name="x">The input, row-major (NCHW for a feature map).</param>
    /// <param name="eps">The epsilon added to the variance (at least 0).</param>
    /// <param name="y">Receives the normalised (and, with gamma, scaled and shifted) output, shaped as x.</param>
    public static void Forward(int n, int c, int h, int w, ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        float eps, Span<float> y, Span<float> mean, Span<float> variance, Span<float> invStd)
    {
        BatchNormChecks.Shape(n, c, h, w, x.Length, y.Length, gamma.Length, beta.Length);
        BatchNormChecks.PerChannel(c, mean.Length, "mean");
        BatchNormChecks.PerChannel(c, variance.Length, "variance");
        BatchNormChecks.PerChannel(c, invStd.Length, "invstd");
        if (!(eps >= 0f) || float.IsInfinity(eps)) throw new ArgumentException($"batch norm: epsilon {eps} must be a finite non-negative number");
        int plane = h * w;
        double m = (double)n * plane;
        for (int k = 0; k < c; k++)
        {
            double sum = 0;
            for (int b = 0; b < n; b++)
            {
                int first = (b * c + k) * plane;
                for (int p = 0; p < plane; p++) sum += x[first + p];
            }
            double mu = sum / m, sq = 0;
            for (int b = 0; b < n; b++)
            {
                int first = (b * c + k) * plane;
                for (int p = 0; p < plane; p++) { double d = x[first + p] - mu; sq += d * d; }
            }
            double var = sq / m, inv = 1.0 / Math.Sqrt(var + eps);
            double gk = gamma.Length > 0 ? gamma[k] : 1.0, bk = beta.Length > 0 ? beta[k] : 0.0;
            for (int b = 0; b < n; b++)
            {
                int first = (b * c + k) * plane;
                for (int p = 0; p < plane; p++) y[first + p] = (float)((x[first + p] - mu) * inv * gk + bk);
            }
            mean[k] = (float)mu;
            variance[k] = (float)var;
            invStd[k] = (float)inv;
        }
    }

    /// <summary>
    /// torch's update (batch_norm with training=True): running_mean = (1 - momentum) * running_mean + momentum * mean,
    /// running_var = (1 - momentum) * running_var + momentum * var * m / (m - 1) (the unbiased variance). torch's
    /// momentum=None (a cumulative average) is momentum = 1 / num_batches_tracked, which the caller passes.
    /// torch refuses m = 1 ("Expected more than 1 value per channel when training"); so does this.
    /// </summary>
    public static void UpdateTorchRunningStats(ReadOnlySpan<float> mean, ReadOnlySpan<float> variance, long valuesPerChannel, float momentum,
        Span<float> runningMean, Span<float> runningVar)
    {
        BatchNormChecks.Running(mean.Length, variance.Length, runningMean.Length, runningVar.Length);
        if (valuesPerChannel < 2)
            throw new ArgumentException($"batch norm: expected more than 1 value per channel when training, got {valuesPerChannel}");
        if (!(momentum >= 0f && momentum <= 1f)) throw new ArgumentException($"batch norm: momentum {momentum} must lie in [0, 1]");
        double unbias = valuesPerChannel / (valuesPerChannel - 1.0);
        for (int k = 0; k < mean.Length; k++)
        {
            runningMean[k] = (float)((1.0 - momentum) * runningMean[k] + (double)momentum * mean[k]);
            runningVar[k] = (float)((1.0 - momentum) * runningVar[k] + (double)momentum * variance[k] * unbias);
        }
    }

    /// <summary>
    /// Caffe's BatchNorm blobs (batch_norm_layer.cpp Forward_cpu, use_global_stats false): scale_factor =
    /// maf * scale_factor + 1, mean_sum = maf * mean_sum + mean, var_sum = maf * var_sum + m / (m - 1) * var (the
    /// correction is 1 when m = 1). Inference divides the sums by scale_factor.
    /// </summary>
    public static void UpdateCaffeMovingAverages(ReadOnlySpan<float> mean, ReadOnlySpan<float> variance, long valuesPerChannel,
        float movingAverageFraction, Span<float> meanSum, Span<float> varSum, ref float scaleFactor)
    {
        BatchNormChecks.Running(mean.Length, variance.Length, meanSum.Length, varSum.Length);
        if (valuesPerChannel < 1) throw new ArgumentException($"batch norm: {valuesPerChannel} values per channel");
        if (!(movingAverageFraction >= 0f && movingAverageFraction <= 1f))
            throw new ArgumentException($"batch norm: moving_average_fraction {movingAverageFraction} must lie in [0, 1]");
        double correction = valuesPerChannel > 1 ? valuesPerChannel / (valuesPerChannel - 1.0) : 1.0;
        scaleFactor = (float)((double)movingAverageFraction * scaleFactor + 1.0);
        for (int k = 0; k < mean.Length; k++)
        {
            meanSum[k] = (float)((double)movingAverageFraction * meanSum[k] + mean[k]);
            varSum[k] = (float)((double)movingAverageFraction * varSum[k] + correction * variance[k]);
        }
    }
}

internal static class BatchNormChecks
{
    public static void Shape(int n, int c, int h, int w, long xLength, long yLength, long gammaLength, long betaLength)
    {
        if (n <= 0 || c <= 0 || h <= 0 || w <= 0) throw new ArgumentException($"batch norm: shape {n}x{c}x{h}x{w} has a non-positive dimension");
        long count = (long)n * c * h * w;
        if (count > int.MaxValue) throw new ArgumentException($"batch norm: shape {n}x{c}x{h}x{w} has more than 2^31 elements");
        if (xLength != count) throw new ArgumentException($"batch norm: input has {xLength} floats, shape {n}x{c}x{h}x{w} needs {count}");
        if (yLength != count) throw new ArgumentException($"batch norm: output has {yLength} floats, shape {n}x{c}x{h}x{w} needs {count}");
        if (gammaLength != 0 && gammaLength != c) throw new ArgumentException($"batch norm: gamma has {gammaLength} values, expected {c} or none");
        if (betaLength != 0 && betaLength != c) throw new ArgumentException($"batch norm: beta has {betaLength} values, expected {c} or none");
    }

    public static void PerChannel(int c, long length, string what)
    {
        if (length != c) throw new ArgumentException($"batch norm: {what} has {length} values, expected one per channel ({c})");
    }

    public static void Running(int mean, int variance, int runningMean, int runningVar)
    {
        if (variance != mean || runningMean != mean || runningVar != mean)
            throw new ArgumentException($"batch norm: mean ({mean}), variance ({variance}) and the running statistics ({runningMean}, {runningVar}) must have one value per channel each");
    }
}
