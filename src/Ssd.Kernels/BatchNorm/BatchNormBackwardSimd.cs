using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.BatchNorm;

/// <summary>
/// Batch normalisation in training mode and its gradients on the CPU (<see cref="BatchNormTrainingReference"/>,
/// <see cref="BatchNormBackwardReference"/>), one task per channel: the batch statistics and the backward's two sums
/// as vectorised float sums over each image's plane (centred on the mean, not E[x^2] - E[x]^2), then one affine pass
/// (y = x * gamma * invstd + (beta - mean * gamma * invstd); dx = dy * k1 + x * k2 + k3). Float sums against the
/// reference's double ones: a declared bound; the result does not depend on the threads. The running statistics are
/// the reference's per-channel updates (<see cref="BatchNormTrainingReference.UpdateTorchRunningStats"/>, ...).
/// </summary>
internal static unsafe class BatchNormBackwardSimd
{
    public static void ForwardTraining(int n, int c, int h, int w, ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        float eps, Span<float> y, Span<float> mean, Span<float> variance, Span<float> invStd, CpuOpOptions options = default)
    {
        BatchNormChecks.Shape(n, c, h, w, x.Length, y.Length, gamma.Length, beta.Length);
        BatchNormChecks.PerChannel(c, mean.Length, "mean");
        BatchNormChecks.PerChannel(c, variance.Length, "variance");
        BatchNormChecks.PerChannel(c, invStd.Length, "invstd");
        if (!(eps >= 0f) || float.IsInfinity(eps)) throw new ArgumentException($"batch norm: epsilon {eps} must be a finite non-negative number");
        fixed (float* px = x, pg = gamma, pb = beta, py = y, pm = mean, pv = variance, pi = invStd)
        {
            var job = new Job(n, c, h * w, options.ResolvedIsa, px, pg, pb, py, pm, pv, pi, null, null, null, null, eps);
            WorkerPool.Run(c, options.WorkersFor(2L * x.Length), job, static (j, _, k) => j.Forward(k));
        }
    }

    /// <remarks><paramref name="gamma"/>: [C], or empty (no affine part: dgamma and dbeta are not written and may be empty).</remarks>
    public static void Backward(int n, int c, int h, int w, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> invStd,
        ReadOnlySpan<float> gamma, ReadOnlySpan<float> dY, Span<float> dX, Span<float> dGamma, Span<float> dBeta, CpuOpOptions options = default)
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
        fixed (float* px = x, pm = mean, pi = invStd, pg = gamma, pdy = dY, pdx = dX, pdg = dGamma, pdb = dBeta)
        {
            var job = new Job(n, c, h * w, options.ResolvedIsa, px, gamma.Length > 0 ? pg : null, null, null, pm, null, pi, pdy, pdx, pdg, pdb, 0f);
            WorkerPool.Run(c, options.WorkersFor(3L * x.Length), job, static (j, _, k) => j.Backward(k));
        }
    }

    /// <summary>dx = dy * gamma / sqrt(var + eps) (<see cref="BatchNormBackwardReference.BackwardGlobalStats"/>).</summary>
    public static void BackwardGlobalStats(int n, int c, int h, int w, ReadOnlySpan<float> variance, float eps, ReadOnlySpan<float> gamma,
        ReadOnlySpan<float> dY, Span<float> dX, CpuOpOptions options = default)
    {
        BatchNormChecks.Shape(n, c, h, w, dY.Length, dX.Length, gamma.Length, 0);
        BatchNormChecks.PerChannel(c, variance.Length, "variance");
        fixed (float* pv = variance, pg = gamma, pdy = dY, pdx = dX)
        {
            var job = new Job(n, c, h * w, options.ResolvedIsa, null, gamma.Length > 0 ? pg : null, null, null, null, pv, null, pdy, pdx, null, null, eps);
            WorkerPool.Run(c, options.WorkersFor(2L * dY.Length), job, static (j, _, k) =>
            {
                float factor = (float)((j.Gamma == null ? 1.0 : j.Gamma[k]) / Math.Sqrt((double)j.Variance[k] + j.Eps));
                for (int b = 0; b < j.N; b++)
                {
                    long at = ((long)b * j.C + k) * j.Plane;
                    SimdMath.Scale(j.Dy + at, factor, j.Dx + at, j.Plane, j.Isa);
                }
            });
        }
    }

    private readonly struct Job(int n, int c, int plane, CpuIsa isa, float* x, float* gamma, float* beta, float* y, float* mean,
        float* variance, float* invStd, float* dy, float* dx, float* dGamma, float* dBeta, float eps)
    {
        public int N => n;
        public int C => c;
        public int Plane => plane;
        public CpuIsa Isa => isa;
        public float* Gamma => gamma;
        public float* Variance => variance;
        public float* Dy => dy;
        public float* Dx => dx;
        public float Eps => eps;

        public void Forward(int k)
        {
            float m = n * (float)plane, sum = 0f;
            for (int b = 0; b < n; b++) sum += SimdMath.Sum(x + ((long)b * c + k) * plane, plane, isa);
            float mu = sum / m, sq = 0f;
            for (int b = 0; b < n; b++) sq += SimdMath.CentredDot(x + ((long)b * c + k) * plane, null, mu, plane, isa);
            float var = sq / m, inv = (float)(1.0 / Math.Sqrt((double)var + eps));
            float alpha = inv * (gamma == null ? 1f : gamma[k]), shift = (beta == null ? 0f : beta[k]) - mu * alpha;
            for (int b = 0; b < n; b++)
            {
                long at = ((long)b * c + k) * plane;
                SimdMath.Affine(y + at, x + at, alpha, null, 0f, shift, plane, isa);
            }
            (mean[k], variance[k], invStd[k]) = (mu, var, inv);
        }

        public void Backward(int k)
        {
            float m = n * (float)plane, mu = mean[k], inv = invStd[k], sumDy = 0f, sumDyXc = 0f;
            for (int b = 0; b < n; b++)
            {
                long at = ((long)b * c + k) * plane;
                sumDy += SimdMath.Sum(dy + at, plane, isa);
                sumDyXc += SimdMath.CentredDot(dy + at, x + at, mu, plane, isa);
            }
            float sumDyXhat = sumDyXc * inv, g = gamma == null ? 1f : gamma[k];
            // dx = g * inv * (dy - sumDy / m - (x - mu) * inv * sumDyXhat / m)
            float k1 = g * inv, k2 = -g * inv * inv * sumDyXhat / m, k3 = g * inv * (mu * inv * sumDyXhat / m - sumDy / m);
            for (int b = 0; b < n; b++)
            {
                long at = ((long)b * c + k) * plane;
                SimdMath.Affine(dx + at, dy + at, k1, x + at, k2, k3, plane, isa);
            }
            if (gamma != null)
            {
                dGamma[k] = sumDyXhat;
                dBeta[k] = sumDy;
            }
        }
    }
}
