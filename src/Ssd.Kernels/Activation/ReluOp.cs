using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Activation;

/// <summary>Launches ReLU and its backward on a device. In place when the input and output views are the same.</summary>
internal sealed class ReluOp(ComputeDevice device)
{
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>> relu1 =
        device.Kernel("relu.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>>(ReluKernels.Relu1));

    private Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> Backward1 =>
        device.Kernel("relu.backward.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ReluBackwardKernels.ReluBackward1));

    public void Forward(ArrayView<float> x, ArrayView<float> y, AcceleratorStream? stream = null)
    {
        if (x.Length != y.Length) throw new ArgumentException("relu: input and output lengths differ");
        if (x.Length == 0) return;
        relu1(stream ?? device.Accelerator.DefaultStream, (int)x.Length, x, y);
    }

    /// <summary>dx = y &lt;= 0 ? 0 : dy, from the forward's output y (<see cref="ReluBackwardReference"/>).</summary>
    public void Backward(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, AcceleratorStream? stream = null)
    {
        if (dy.Length != y.Length || dx.Length != y.Length) throw new ArgumentException("relu backward: output, gradient and input gradient lengths differ");
        if (y.Length == 0) return;
        Backward1(stream ?? device.Accelerator.DefaultStream, (int)y.Length, y, dy, dx);
    }
}
