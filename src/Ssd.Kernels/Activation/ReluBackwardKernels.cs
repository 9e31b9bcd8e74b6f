using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Activation;

/// <summary>ILGPU kernels for ReLU's gradient (<see cref="ReluBackwardReference"/>).</summary>
public static class ReluBackwardKernels
{
    /// <summary>Version 1: one thread per element, dx = y &gt; 0 ? dy : 0; dx may be dy (in place).</summary>
    [Kernel("relu")]
    public static void ReluBackward1(Index1D i, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx) =>
        dx[i] = y[i] > 0f ? dy[i] : 0f;
}

/// <summary>Launches ReLU's gradient on a device; dx may be dy.</summary>
public sealed class ReluBackwardOp(ComputeDevice device)
{
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> backward1 =
        device.Kernel("relu.backward.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(
            ReluBackwardKernels.ReluBackward1));

    /// <summary>dx = dy where the forward's output y is positive, else 0.</summary>
    public void Backward(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, AcceleratorStream? stream = null)
    {
        if (dy.Length != y.Length || dx.Length != y.Length)
            throw new ArgumentException($"relu backward: y has {y.Length} floats, dy {dy.Length}, dx {dx.Length}; all must agree");
        if (y.Length > int.MaxValue) throw new ArgumentException($"relu backward: {y.Length} elements exceed 2^31");
        if (y.Length == 0) return;
        backward1(stream ?? device.Accelerator.DefaultStream, (int)y.Length, y, dy, dx);
    }
}
