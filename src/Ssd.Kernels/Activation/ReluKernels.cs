using ILGPU;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Activation;

/// <summary>ILGPU kernels for ReLU.</summary>
public static class ReluKernels
{
    /// <summary>Version 1: one thread per element; works in place when x and y are the same view.</summary>
    [Kernel("relu")]
    public static void Relu1(Index1D i, ArrayView<float> x, ArrayView<float> y) =>
        y[i] = IntrinsicMath.Max(x[i], 0f);
}
