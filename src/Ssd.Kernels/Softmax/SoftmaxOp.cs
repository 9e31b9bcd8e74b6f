using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Softmax;

/// <summary>Launches softmax along the class axis. Works in place.</summary>
internal sealed class SoftmaxOp(ComputeDevice device)
{
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int> softmax1 =
        device.Kernel("softmax.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(SoftmaxKernels.Softmax1));

    /// <summary>Softmax of each row of [rows, classes] (rows = N * boxes for SSD's confidences).</summary>
    public void Rows(int rows, int classes, ArrayView<float> x, ArrayView<float> y, AcceleratorStream? stream = null) =>
        Forward(rows, classes, 1, x, y, stream);

    /// <summary>Softmax over the channels of an NCHW tensor, separately at each pixel.</summary>
    public void Channels(TensorShape shape, ArrayView<float> x, ArrayView<float> y, AcceleratorStream? stream = null) =>
        Forward(shape.N, shape.C, shape.PlaneSize, x, y, stream);

    /// <summary>Softmax along the middle axis of [outer, classes, inner].</summary>
    public void Forward(int outer, int classes, int inner, ArrayView<float> x, ArrayView<float> y, AcceleratorStream? stream = null)
    {
        SoftmaxChecks.Shape(outer, classes, inner, x.Length, y.Length);
        softmax1(stream ?? device.Accelerator.DefaultStream, outer * inner, x, y, classes, inner);
    }
}
