using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Pooling;

/// <summary>Launches max and average pooling on a device; input and output must not overlap.</summary>
internal sealed class PoolOp(ComputeDevice device)
{
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, PoolGeometry> max1 =
        device.Kernel("pooling.max.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, PoolGeometry>(PoolKernels.MaxPool1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, PoolGeometry, int> avg1 =
        device.Kernel("pooling.avg.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, PoolGeometry, int>(PoolKernels.AvgPool1));

    public void Max(PoolGeometry g, ArrayView<float> x, ArrayView<float> y, AcceleratorStream? stream = null)
    {
        Check(g, x, y);
        max1(stream ?? device.Accelerator.DefaultStream, (int)g.Output.Count, x, y, g);
    }

    public void Average(PoolGeometry g, AvgPoolDivisor divisor, ArrayView<float> x, ArrayView<float> y, AcceleratorStream? stream = null)
    {
        Check(g, x, y);
        avg1(stream ?? device.Accelerator.DefaultStream, (int)g.Output.Count, x, y, g, divisor == AvgPoolDivisor.ValidWindow ? 1 : 0);
    }

    private static void Check(PoolGeometry g, ArrayView<float> x, ArrayView<float> y)
    {
        if (x.Length != g.Input.Count) throw new ArgumentException($"pooling: input view has {x.Length} floats, shape {g.Input} needs {g.Input.Count}");
        if (y.Length != g.Output.Count) throw new ArgumentException($"pooling: output view has {y.Length} floats, shape {g.Output} needs {g.Output.Count}");
    }
}
