using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.L2Norm;

/// <summary>ILGPU kernels for L2Norm's gradients (<see cref="L2NormBackwardReference"/>'s formulas, in float).</summary>
public static class L2NormBackwardKernels
{
    /// <summary>
    /// Version 1: one thread per pixel, as <see cref="L2NormKernels.L2Norm1"/>: the float sum of squares and the norm
    /// the forward computes, the dot product, then dx channel by channel; writes 1 / norm per pixel for the scale's
    /// gradient (a per-channel reduce). <paramref name="mode"/> is (int)<see cref="L2NormEpsilon"/>,
    /// <paramref name="caffeRule"/> 1 for <see cref="L2NormGradient.Caffe"/>.
    /// </summary>
    [Kernel("l2norm")]
    public static void L2NormBackward1(Index1D i, ArrayView<float> x, ArrayView<float> scale, ArrayView<float> dy, ArrayView<float> dx,
        ArrayView<float> invNorm, int c, int plane, int mode, float eps, int sharedScale, int caffeRule)
    {
        int b = i / plane, p = i % plane;
        int first = b * c * plane + p;
        float sum = 0f, dot = 0f;
        for (int k = 0; k < c; k++)
        {
            int at = first + k * plane;
            float v = x[at];
            sum += v * v;
            dot += (caffeRule != 0 ? 1f : scale[sharedScale != 0 ? 0 : k]) * dy[at] * v;
        }
        float root = XMath.Sqrt(sum);
        float norm = mode == 0 ? XMath.Sqrt(sum + eps) : mode == 1 ? root + eps : IntrinsicMath.Max(root, eps);
        float inv = 1f / norm;
        // 2 dN/dS: 1/N inside the square root, 1/sqrt(S) after it, 1/N for the clamp where it passes; 0 for the limits.
        float slope = mode == 0 ? inv : mode == 1 ? (sum > 0f ? 1f / root : 0f) : (root >= eps && sum > 0f ? inv : 0f);
        float coef = caffeRule != 0 ? dot * inv * inv * inv : dot * inv * inv * slope;
        for (int k = 0; k < c; k++)
        {
            int at = first + k * plane;
            float s = scale[sharedScale != 0 ? 0 : k];
            dx[at] = s * dy[at] * inv - (caffeRule != 0 ? s : 1f) * x[at] * coef;
        }
        invNorm[i] = inv;
    }
}

/// <summary>Launches L2Norm's gradients on a device; owns a scratch buffer (1 / norm per pixel): one per caller.</summary>
internal sealed class L2NormBackwardOp(ComputeDevice device) : IDisposable
{
    private readonly ChannelReduceOp reduce = new(device);
    private MemoryBuffer1D<float, Stride1D.Dense>? scratch;

    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        int, int, int, float, int, int> backward1 =
        device.Kernel("l2norm.backward.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, int, int, float, int, int>(L2NormBackwardKernels.L2NormBackward1));

    public void Backward(TensorShape shape, ArrayView<float> x, ArrayView<float> scale, L2NormEpsilon mode, float eps, ArrayView<float> dy,
        ArrayView<float> dx, ArrayView<float> dScale, L2NormGradient rule = L2NormGradient.Exact, AcceleratorStream? stream = null)
    {
        L2NormBackwardChecks.Check(shape.N, shape.C, shape.H, shape.W, x.Length, scale.Length, mode, eps, dy.Length, dx.Length, dScale.Length, rule);
        var s = stream ?? device.Accelerator.DefaultStream;
        int pixels = shape.N * shape.PlaneSize;
        long need = pixels + (scale.Length == 1 ? shape.C : 0);
        if (scratch is null || scratch.Length < need)
        {
            if (scratch is not null) device.Synchronize();
            scratch?.Dispose();
            scratch = device.Allocate(need);
        }
        var inv = scratch.View.SubView(0, pixels);
        backward1(s, pixels, x, scale, dy, dx, inv, shape.C, shape.PlaneSize, (int)mode, eps, scale.Length == 1 ? 1 : 0,
            rule == L2NormGradient.Caffe ? 1 : 0);
        if (scale.Length != 1)
        {
            reduce.WeightedDot(shape.N, shape.C, shape.PlaneSize, dy, x, inv, dScale, 1f, s);
            return;
        }
        var perChannel = scratch.View.SubView(pixels, shape.C);
        reduce.WeightedDot(shape.N, shape.C, shape.PlaneSize, dy, x, inv, perChannel, 1f, s);
        reduce.Sum(1, 1, shape.C, perChannel, dScale, 1f, s);
    }

    public void Dispose() => scratch?.Dispose();
}
