using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.L2Norm;

/// <summary>Launches channel-wise L2 normalisation (Caffe Normalize, across_spatial=false). Works in place.</summary>
internal sealed class L2NormOp(ComputeDevice device)
{
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float, int> l2norm1 =
        device.Kernel("l2norm.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float, int>(L2NormKernels.L2Norm1));

    /// <remarks><paramref name="scale"/>: One value (channel_shared) or <c>shape.C</c> values.</remarks>
    public void Forward(TensorShape shape, ArrayView<float> x, ArrayView<float> scale, L2NormEpsilon mode, float eps,
        ArrayView<float> y, AcceleratorStream? stream = null)
    {
        L2NormChecks.Shape(shape.N, shape.C, shape.H, shape.W, x.Length, y.Length, scale.Length);
        if (!Enum.IsDefined(mode)) throw new ArgumentException($"l2norm: unknown epsilon mode {mode}");
        if (!(eps >= 0f)) throw new ArgumentException($"l2norm: epsilon {eps} must be a non-negative number");
        l2norm1(stream ?? device.Accelerator.DefaultStream, shape.N * shape.PlaneSize, x, y, scale,
            shape.C, shape.PlaneSize, (int)mode, eps, scale.Length == 1 ? 1 : 0);
    }
}
