using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.BatchNorm;

/// <summary>
/// ILGPU kernels for batch normalisation in training mode and its gradients (<see cref="BatchNormTrainingReference"/>,
/// <see cref="BatchNormBackwardReference"/>), element-wise over NCHW; the per-channel sums are Core's reduce kernels.
/// <c>affine</c> parameters are 1 when gamma and beta exist.
/// </summary>
public static class BatchNormBackwardKernels
{
    /// <summary>Version 1: one thread per channel: invstd = 1 / sqrt(var + eps).</summary>
    [Kernel("batchnorm")]
    public static void InvStd1(Index1D c, ArrayView<float> variance, ArrayView<float> invStd, float eps) =>
        invStd[c] = 1f / XMath.Sqrt(variance[c] + eps);

    /// <summary>Version 1: y = (x - mean) * invstd * gamma + beta.</summary>
    [Kernel("batchnorm")]
    public static void Normalize1(Index1D i, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> invStd, ArrayView<float> gamma,
        ArrayView<float> beta, ArrayView<float> y, int channels, int plane, int affine)
    {
        int c = i / plane % channels;
        float v = (x[i] - mean[c]) * invStd[c];
        y[i] = affine != 0 ? v * gamma[c] + beta[c] : v;
    }

    /// <summary>Version 1: dx = gamma * invstd * (dy - sum(dy) / m - xhat * sum(dy * xhat) / m).</summary>
    [Kernel("batchnorm")]
    public static void Backward1(Index1D i, ArrayView<float> x, ArrayView<float> dy, ArrayView<float> mean, ArrayView<float> invStd,
        ArrayView<float> gamma, ArrayView<float> sumDy, ArrayView<float> sumDyXhat, ArrayView<float> dx, int channels, int plane, float count, int affine)
    {
        int c = i / plane % channels;
        float inv = invStd[c], xhat = (x[i] - mean[c]) * inv;
        float g = affine != 0 ? gamma[c] : 1f;
        dx[i] = g * inv * (dy[i] - sumDy[c] / count - xhat * sumDyXhat[c] / count);
    }

    /// <summary>Version 1: statistics fixed: dx = dy * gamma / sqrt(var + eps).</summary>
    [Kernel("batchnorm")]
    public static void BackwardGlobalStats1(Index1D i, ArrayView<float> dy, ArrayView<float> variance, ArrayView<float> gamma, ArrayView<float> dx,
        int channels, int plane, float eps, int affine)
    {
        int c = i / plane % channels;
        dx[i] = dy[i] * ((affine != 0 ? gamma[c] : 1f) / XMath.Sqrt(variance[c] + eps));
    }

    /// <summary>Version 1: torch's running statistics, per channel (see <see cref="BatchNormTrainingReference.UpdateTorchRunningStats"/>).</summary>
    [Kernel("batchnorm")]
    public static void TorchRunningStats1(Index1D c, ArrayView<float> mean, ArrayView<float> variance, ArrayView<float> runningMean,
        ArrayView<float> runningVar, float momentum, float unbias)
    {
        runningMean[c] = (1f - momentum) * runningMean[c] + momentum * mean[c];
        runningVar[c] = (1f - momentum) * runningVar[c] + momentum * variance[c] * unbias;
    }

    /// <summary>Version 1: Caffe's moving-average blobs, per channel (see <see cref="BatchNormTrainingReference.UpdateCaffeMovingAverages"/>).</summary>
    [Kernel("batchnorm")]
    public static void CaffeMovingAverages1(Index1D c, ArrayView<float> mean, ArrayView<float> variance, ArrayView<float> meanSum,
        ArrayView<float> varSum, float fraction, float correction)
    {
        meanSum[c] = fraction * meanSum[c] + mean[c];
        varSum[c] = fraction * varSum[c] + correction * variance[c];
    }
}

/// <summary>Launches batch normalisation's training forward and gradients on a device; owns the two sums' scratch.</summary>
internal sealed class BatchNormBackwardOp(ComputeDevice device) : IDisposable
{
    private readonly ChannelReduceOp reduce = new(device);
    private MemoryBuffer1D<float, Stride1D.Dense>? sums;

    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, float> invStd1 =
        device.Kernel("batchnorm.invstd.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, float>(BatchNormBackwardKernels.InvStd1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, int, int, int> normalize1 =
        device.Kernel("batchnorm.normalize.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int, int, int>(BatchNormBackwardKernels.Normalize1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, int> backward1 =
        device.Kernel("batchnorm.backward.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, int>(BatchNormBackwardKernels.Backward1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, int> global1 =
        device.Kernel("batchnorm.backward.global.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, int, float, int>(BatchNormBackwardKernels.BackwardGlobalStats1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float> torch1 =
        device.Kernel("batchnorm.running.torch.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, float, float>(BatchNormBackwardKernels.TorchRunningStats1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float> caffe1 =
        device.Kernel("batchnorm.running.caffe.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, float, float>(BatchNormBackwardKernels.CaffeMovingAverages1));

    /// <remarks><paramref name="gamma"/>: [C], or an empty view (no affine part; beta then empty too).</remarks>
    public void ForwardTraining(TensorShape s, ArrayView<float> x, ArrayView<float> gamma, ArrayView<float> beta, float eps, ArrayView<float> y,
        ArrayView<float> mean, ArrayView<float> variance, ArrayView<float> invStd, AcceleratorStream? stream = null)
    {
        BatchNormChecks.Shape(s.N, s.C, s.H, s.W, x.Length, y.Length, gamma.Length, beta.Length);
        if (gamma.Length != beta.Length) throw new ArgumentException("batch norm: gamma and beta must both be given or both be empty");
        BatchNormChecks.PerChannel(s.C, mean.Length, "mean");
        BatchNormChecks.PerChannel(s.C, variance.Length, "variance");
        BatchNormChecks.PerChannel(s.C, invStd.Length, "invstd");
        if (!(eps >= 0f) || float.IsInfinity(eps)) throw new ArgumentException($"batch norm: epsilon {eps} must be a finite non-negative number");
        var st = stream ?? device.Accelerator.DefaultStream;
        float m = (float)((double)s.N * s.PlaneSize);
        reduce.Sum(s.N, s.C, s.PlaneSize, x, mean, 1f / m, st);
        reduce.CentredSquare(s.N, s.C, s.PlaneSize, x, mean, variance, 1f / m, st);
        invStd1(st, s.C, variance, invStd, eps);
        bool affine = gamma.Length > 0;
        normalize1(st, (int)s.Count, x, mean, invStd, affine ? gamma : mean, affine ? beta : mean, y, s.C, s.PlaneSize, affine ? 1 : 0);
    }

    /// <remarks><paramref name="gamma"/>: [C], or an empty view (no affine part: dgamma and dbeta are not written and may be empty).</remarks>
    public void Backward(TensorShape s, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> invStd, ArrayView<float> gamma, ArrayView<float> dy,
        ArrayView<float> dx, ArrayView<float> dGamma, ArrayView<float> dBeta, AcceleratorStream? stream = null)
    {
        BatchNormChecks.Shape(s.N, s.C, s.H, s.W, x.Length, dx.Length, gamma.Length, 0);
        if (dy.Length != x.Length) throw new ArgumentException($"batch norm backward: dy has {dy.Length} floats, x has {x.Length}");
        BatchNormChecks.PerChannel(s.C, mean.Length, "mean");
        BatchNormChecks.PerChannel(s.C, invStd.Length, "invstd");
        bool affine = gamma.Length > 0;
        if (affine)
        {
            BatchNormChecks.PerChannel(s.C, dGamma.Length, "dgamma");
            BatchNormChecks.PerChannel(s.C, dBeta.Length, "dbeta");
        }
        var st = stream ?? device.Accelerator.DefaultStream;
        if (!affine)
        {
            if (sums is null || sums.Length < 2L * s.C)
            {
                if (sums is not null) device.Synchronize();
                sums?.Dispose();
                sums = device.Allocate(2L * s.C);
            }
            (dBeta, dGamma) = (sums.View.SubView(0, s.C), sums.View.SubView(s.C, s.C));
        }
        // The two sums land in dbeta and dgamma: they are those gradients.
        reduce.Sum(s.N, s.C, s.PlaneSize, dy, dBeta, 1f, st);
        reduce.CentredDot(s.N, s.C, s.PlaneSize, dy, x, mean, invStd, dGamma, 1f, st);
        backward1(st, (int)s.Count, x, dy, mean, invStd, affine ? gamma : mean, dBeta, dGamma, dx, s.C, s.PlaneSize,
            (float)((double)s.N * s.PlaneSize), affine ? 1 : 0);
    }

    public void BackwardGlobalStats(TensorShape s, ArrayView<float> variance, float eps, ArrayView<float> gamma, ArrayView<float> dy, ArrayView<float> dx,
        AcceleratorStream? stream = null)
    {
        BatchNormChecks.Shape(s.N, s.C, s.H, s.W, dy.Length, dx.Length, gamma.Length, 0);
        BatchNormChecks.PerChannel(s.C, variance.Length, "variance");
        bool affine = gamma.Length > 0;
        global1(stream ?? device.Accelerator.DefaultStream, (int)s.Count, dy, variance, affine ? gamma : variance, dx, s.C, s.PlaneSize, eps, affine ? 1 : 0);
    }

    public void UpdateTorchRunningStats(ArrayView<float> mean, ArrayView<float> variance, long valuesPerChannel, float momentum,
        ArrayView<float> runningMean, ArrayView<float> runningVar, AcceleratorStream? stream = null)
    {
        BatchNormChecks.Running((int)mean.Length, (int)variance.Length, (int)runningMean.Length, (int)runningVar.Length);
        if (valuesPerChannel < 2) throw new ArgumentException($"batch norm: expected more than 1 value per channel when training, got {valuesPerChannel}");
        if (!(momentum >= 0f && momentum <= 1f)) throw new ArgumentException($"batch norm: momentum {momentum} must lie in [0, 1]");
        torch1(stream ?? device.Accelerator.DefaultStream, (int)mean.Length, mean, variance, runningMean, runningVar, momentum,
            (float)(valuesPerChannel / (valuesPerChannel - 1.0)));
    }

    /// <summary>Caffe's blobs; the scale factor is the host's one float (a blob of one value), updated here.</summary>
    public void UpdateCaffeMovingAverages(ArrayView<float> mean, ArrayView<float> variance, long valuesPerChannel, float movingAverageFraction,
        ArrayView<float> meanSum, ArrayView<float> varSum, ref float scaleFactor, AcceleratorStream? stream = null)
    {
        BatchNormChecks.Running((int)mean.Length, (int)variance.Length, (int)meanSum.Length, (int)varSum.Length);
        if (valuesPerChannel < 1) throw new ArgumentException($"batch norm: {valuesPerChannel} values per channel");
        if (!(movingAverageFraction >= 0f && movingAverageFraction <= 1f))
            throw new ArgumentException($"batch norm: moving_average_fraction {movingAverageFraction} must lie in [0, 1]");
        scaleFactor = (float)((double)movingAverageFraction * scaleFactor + 1.0);
        caffe1(stream ?? device.Accelerator.DefaultStream, (int)mean.Length, mean, variance, meanSum, varSum, movingAverageFraction,
            valuesPerChannel > 1 ? (float)(valuesPerChannel / (valuesPerChannel - 1.0)) : 1f);
    }

    public void Dispose() => sums?.Dispose();
}
