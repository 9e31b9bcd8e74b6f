using ILGPU;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Activation;

/// <summary>ILGPU kernels for ReLU.</summary>
public static class ReluKernels
{
    /// <summary>Version 1: one thread per element; works in place when x and y are the same view. x &gt; 0 ? x : 0 as
    /// the reference (NaN and -0 give +0; a device max would keep a NaN), with the NaN test on the bits.</summary>
    [Kernel("relu")]
    public static void Relu1(Index1D i, ArrayView<float> x, ArrayView<float> y) =>
        y[i] = NetMath.Greater(x[i], 0f) ? x[i] : 0f;
}
