using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Activation;

/// <summary>Launches ReLU on a device. In place when <c>x</c> and <c>y</c> are the same view.</summary>
public sealed class ReluOp(ComputeDevice device)
{
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>> relu1 =
        device.Kernel("relu.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>>(ReluKernels.Relu1));

    public void Forward(ArrayView<float> x, ArrayView<float> y, AcceleratorStream? stream = null)
    {
        if (x.Length != y.Length) throw new ArgumentException("relu: input and output lengths differ");
        if (x.Length == 0) return;
        relu1(stream ?? device.Accelerator.DefaultStream, (int)x.Length, x, y);
    }
}
