using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Eltwise;

/// <summary>Launches Eltwise on a device. The output may be the first input (in place), never a later one.</summary>
internal sealed class EltwiseOp(ComputeDevice device)
{
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, float> first1 =
        device.Kernel("eltwise.first.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, float>(
            EltwiseKernels.First1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int, float> next1 =
        device.Kernel("eltwise.next.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, float>(EltwiseKernels.Next1));

    /// <remarks><paramref name="coefficients"/>: One per input (a weighted sum), or empty.</remarks>
    public void Forward(EltwiseMode mode, IReadOnlyList<ArrayView<float>> inputs, ReadOnlySpan<float> coefficients, ArrayView<float> y,
        AcceleratorStream? stream = null)
    {
        EltwiseChecks.Arguments(mode, inputs.Count, coefficients.Length);
        foreach (var x in inputs)
            if (x.Length != y.Length) throw new ArgumentException($"eltwise: an input has {x.Length} floats, the output {y.Length}");
        if (y.Length > int.MaxValue) throw new ArgumentException($"eltwise: {y.Length} elements exceed 2^31");
        if (y.Length == 0) return;
        var s = stream ?? device.Accelerator.DefaultStream;
        int weighted = coefficients.Length > 0 ? 1 : 0;
        first1(s, (int)y.Length, inputs[0], inputs[1], y, (int)mode, weighted,
            weighted != 0 ? coefficients[0] : 1f, weighted != 0 ? coefficients[1] : 1f);
        for (int k = 2; k < inputs.Count; k++) next1(s, (int)y.Length, inputs[k], y, (int)mode, weighted, weighted != 0 ? coefficients[k] : 1f);
    }
}
