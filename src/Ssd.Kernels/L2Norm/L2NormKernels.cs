using ILGPU;
using ILGPU.Algorithms;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.L2Norm;

/// <summary>ILGPU kernels for channel-wise L2 normalisation over NCHW float32.</summary>
public static class L2NormKernels
{
    /// <summary>
    /// Version 1: one thread per pixel (n, h, w), summing its channel column, then writing it scaled.
    /// Neighbouring threads read neighbouring pixels of the same channel plane, so loads coalesce.
    /// Works in place. <paramref name="mode"/> is (int)<see cref="L2NormEpsilon"/>; <paramref name="sharedScale"/>
    /// is 1 when one scale serves every channel.
    /// </summary>
    [Kernel("l2norm")]
    public static void L2Norm1(Index1D i, ArrayView<float> x, ArrayView<float> y, ArrayView<float> scale,
        int c, int plane, int mode, float eps, int sharedScale)
    {
        int b = i / plane, p = i % plane;
        int first = b * c * plane + p;
        float sum = 0f;
        for (int k = 0; k < c; k++) { float v = x[first + k * plane]; sum += v * v; }
        float norm = mode == 0 ? XMath.Sqrt(sum + eps)
            : mode == 1 ? XMath.Sqrt(sum) + eps
            : IntrinsicMath.Max(XMath.Sqrt(sum), eps);
        for (int k = 0; k < c; k++)
            y[first + k * plane] = x[first + k * plane] / norm * scale[sharedScale != 0 ? 0 : k];
    }
}
