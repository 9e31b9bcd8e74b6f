namespace Ssd.Kernels.BatchNorm;

/// <summary>
/// Plain C# gradients of batch normalisation. Training mode (batch statistics, <see cref="BatchNormTrainingReference"/>),
/// per channel over its m = N * H * W values, with xhat = (x - mean) * invstd:
/// dgamma = sum dy * xhat, dbeta = sum dy, dx = gamma * invstd * (dy - sum(dy) / m - xhat * sum(dy * xhat) / m)
/// (Caffe's BatchNorm Backward_cpu and torch's batch_norm backward, the same formula; gamma = 1 without the affine
/// part). Global-statistics mode (Caffe's use_global_stats, a frozen torch BatchNorm in eval()): the statistics are
/// constants, so dx = dy * gamma / sqrt(running_var + eps). Sums run in double; results are rounded once and
/// overwrite their outputs.
/// </summary>
public static class BatchNormBackwardReference
{
    /// <summary>The training-mode gradients dx, dgamma and dbeta, as the class summary defines.</summary>
    /// <param name="mean">The batch mean the forward saved.</param>
    /// <param name="invStd">The forward's 1 / sqrt(var + eps).</param>
    /// <param name="gamma">[C], or empty (no affine part: dgamma and dbeta are then not written and may be empty).</param>
    /// <param name="n">The batch size.</param>
    /// <param name="c">The channels.</param>
    /// <param name="h">The height in elements.</param>
    /// <param name="w">The width in elements.</param>
    /// <param name="x">The input, row-major (NCHW for a feature map).</param>
    /// <param name="dY">The gradient of the loss with respect to the output, shaped as the output.</param>
    /// <param name="dX">Receives the gradient with respect to the input, shaped as the input.</param>
    /// <param name="dGamma">Receives the gradient with respect to gamma, [C].</param>
    /// <param name="dBeta">Receives the gradient with respect to beta, [C].</param>
    public static void Backward(int n, int c, int h, int w, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> invStd,
        ReadOnlySpan<float> gamma, ReadOnlySpan<float> dY, Span<float> dX, Span<float> dGamma, Span<float> dBeta)
    {
        BatchNormChecks.Shape(n, c, h, w, x.Length, dX.Length, gamma.Length, 0);
        if (dY.Length != x.Length) throw new ArgumentException($"batch norm backward: dy has {dY.Length} floats, x has {x.Length}");
        BatchNormChecks.PerChannel(c, mean.Length, "mean");
        BatchNormChecks.PerChannel(c, invStd.Length, "invstd");
        if (gamma.Length > 0)
        {
            BatchNormChecks.PerChannel(c, dGamma.Length, "dgamma");
            BatchNormChecks.PerChannel(c, dBeta.Length, "dbeta");
        }
        int plane = h * w;
        double m = (double)n * plane;
        for (int k = 0; k < c; k++)
        {
            double mu = mean[k], inv = invStd[k], sumDy = 0, sumDyXhat = 0;
            for (int b = 0; b < n; b++)
            {
                int first = (b * c + k) * plane;
                for (int p = 0; p < plane; p++)
                {
                    double dy = dY[first + p];
                    sumDy += dy;
                    sumDyXhat += dy * (x[first + p] - mu) * inv;
                }
            }
            double gk = gamma.Length > 0 ? gamma[k] : 1.0;
            double meanDy = sumDy / m, meanDyXhat = sumDyXhat / m;
            for (int b = 0; b < n; b++)
            {
                int first = (b * c + k) * plane;
                for (int p = 0; p < plane; p++)
                {
                    double xhat = (x[first + p] - mu) * inv;
                    dX[first + p] = (float)(gk * inv * (dY[first + p] - meanDy - xhat * meanDyXhat));
                }
            }
            if (gamma.Length > 0)
            {
                dGamma[k] = (float)sumDyXhat;
                dBeta[k] = (float)sumDy;
            }
        }
    }

    /// <summary>
    /// dx with the statistics fixed (use_global_stats): dx = dy * gamma / sqrt(var + eps), var the running (for Caffe:
    /// var_sum / scale_factor) variance. The affine gradients, if any, are <see cref="ScaleBackwardReference"/>'s.
    /// </summary>
    public static void BackwardGlobalStats(int n, int c, int h, int w, ReadOnlySpan<float> variance, float eps, ReadOnlySpan<float> gamma,
        ReadOnlySpan<float> dY, Span<float> dX)
    {
        BatchNormChecks.Shape(n, c, h, w, dY.Length, dX.Length, gamma.Length, 0);
        BatchNormChecks.PerChannel(c, variance.Length, "variance");
        int plane = h * w;
        for (int k = 0; k < c; k++)
        {
            double factor = (gamma.Length > 0 ? gamma[k] : 1.0) / Math.Sqrt((double)variance[k] + eps);
            for (int b = 0; b < n; b++)
            {
                int first = (b * c + k) * plane;
                for (int p = 0; p < plane; p++) dX[first + p] = (float)(dY[first + p] * factor);
            }
        }
    }
}
