using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Layout;

/// <summary>Launches permute and concat copies. Inputs and output must not overlap.</summary>
internal sealed class LayoutOp(ComputeDevice device)
{
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, PermuteGeometry> permute1 =
        device.Kernel("layout.permute.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, PermuteGeometry>(LayoutKernels.Permute1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int, int> copyRows1 =
        device.Kernel("layout.copyrows.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int>(LayoutKernels.CopyRows1));

    /// <summary>Permutes a 4-D tensor: output axis k is input axis order[k] (NCHW -> NHWC is 0, 2, 3, 1).</summary>
    public void Permute(ReadOnlySpan<int> inputDims, ReadOnlySpan<int> order, ArrayView<float> x, ArrayView<float> y, AcceleratorStream? stream = null)
    {
        var g = PermuteGeometry.Create(inputDims, order);
        LayoutChecks.Lengths("permute", g.Count, x.Length, y.Length);
        permute1(stream ?? device.Accelerator.DefaultStream, (int)g.Count, x, y, g);
    }

    /// <summary>Concatenates [rows, len_i] inputs along axis 1 into [rows, sum len_i]; len_i = input length / rows.</summary>
    public void ConcatRows(int rows, IReadOnlyList<ArrayView<float>> inputs, ArrayView<float> y, AcceleratorStream? stream = null)
    {
        var lengths = LayoutChecks.RowLengths(rows, inputs.Select(v => v.Length).ToArray(), y.Length);
        int total = lengths.Sum(), offset = 0;
        for (int t = 0; t < inputs.Count; t++)
        {
            copyRows1(stream ?? device.Accelerator.DefaultStream, rows * lengths[t], inputs[t], y, lengths[t], total, offset);
            offset += lengths[t];
        }
    }

    /// <summary>
    /// Concatenates row-major tensors along <paramref name="axis"/> (axis 1 of NCHW for channels); all other
    /// dims must agree. Done as a row concat of [outer, dim_axis * inner] views.
    /// </summary>
    public void Concat(IReadOnlyList<int[]> shapes, int axis, IReadOnlyList<ArrayView<float>> inputs, ArrayView<float> y, AcceleratorStream? stream = null)
    {
        if (shapes.Count != inputs.Count) throw new ArgumentException($"concat: {shapes.Count} shapes for {inputs.Count} inputs");
        int outer = LayoutChecks.OuterRows(shapes, axis);
        for (int t = 0; t < inputs.Count; t++)
        {
            long count = shapes[t].Aggregate(1L, (p, d) => p * d);
            if (inputs[t].Length != count) throw new ArgumentException($"concat: input {t} has {inputs[t].Length} floats, its shape needs {count}");
        }
        ConcatRows(outer, inputs, y, stream);
    }
}
