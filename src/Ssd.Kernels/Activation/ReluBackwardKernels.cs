using ILGPU;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Activation;

/// <summary>ILGPU kernels for ReLU's backward (<see cref="ReluBackwardReference"/>).</summary>
public static class ReluBackwardKernels
{
    /// <summary>Version 1: one thread per element; works in place (dx may be dy). y &lt;= 0 is tested as "not NaN and
    /// not greater than 0" on the bits, so a NaN y lets dy through on every device as in the reference.</summary>
    [Kernel("relu")]
    public static void ReluBackward1(Index1D i, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx) =>
        dx[i] = !NetMath.IsNaN(y[i]) && !NetMath.Greater(y[i], 0f) ? 0f : dy[i];
}
