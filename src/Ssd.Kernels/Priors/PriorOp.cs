using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Priors;

/// <summary>
/// Generates default boxes on the device, once per input size. Each method returns a new buffer the caller owns:
/// Caffe [2, P*4] (boxes then variances), ssd.pytorch [P, 4] (cx, cy, w, h), torchvision [P, 4] pixel xyxy.
/// </summary>
internal sealed class PriorOp(ComputeDevice device)
{
    private readonly Action<AcceleratorStream, Index1D, ArrayView<PriorLayer>, ArrayView<double>, ArrayView<float>> caffe1 =
        device.Kernel("priors.caffe.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<PriorLayer>, ArrayView<double>, ArrayView<float>>(PriorKernels.CaffePriors1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<PriorLayer>, ArrayView<double>, ArrayView<float>> pytorch1 =
        device.Kernel("priors.ssdpytorch.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<PriorLayer>, ArrayView<double>, ArrayView<float>>(PriorKernels.SsdPytorchPriors1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<PriorLayer>, ArrayView<double>, ArrayView<float>> torchvision1 =
        device.Kernel("priors.torchvision.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<PriorLayer>, ArrayView<double>, ArrayView<float>>(PriorKernels.TorchvisionPriors1));

    public MemoryBuffer1D<float, Stride1D.Dense> Caffe(CaffePriorConfig config) => Run(PriorTable.Caffe(config), caffe1, 2);

    public MemoryBuffer1D<float, Stride1D.Dense> SsdPytorch(SsdPytorchPriorConfig config) => Run(PriorTable.SsdPytorch(config), pytorch1, 1);

    /// <summary><paramref name="grids"/> are the feature maps' (height, width).</summary>
    public MemoryBuffer1D<float, Stride1D.Dense> Torchvision(TorchvisionPriorConfig config, (int H, int W)[] grids, int imageHeight, int imageWidth) =>
        Run(PriorTable.Torchvision(config, grids, imageHeight, imageWidth), torchvision1, 1);

    private MemoryBuffer1D<float, Stride1D.Dense> Run(PriorTable table,
        Action<AcceleratorStream, Index1D, ArrayView<PriorLayer>, ArrayView<double>, ArrayView<float>> kernel, int planes)
    {
        int count = table.Count;
        var output = device.Allocate((long)planes * count * 4);
        using var layers = device.Accelerator.Allocate1D(table.Layers);
        using var shapes = device.Accelerator.Allocate1D(table.Shapes);
        kernel(device.Accelerator.DefaultStream, count, layers.View, shapes.View, output.View);
        device.Synchronize();
        return output;
    }
}
