using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Layout;

/// <summary>ILGPU kernels for the layout ops' gradients; permute's is the forward's permute kernel with the inverse order.</summary>
public static class LayoutBackwardKernels
{
    /// <summary>
    /// Version 1: the inverse of <see cref="LayoutKernels.CopyRows1"/>: copies columns [offset, offset + outLength) of
    /// dy [rows, inLength] into one input's gradient [rows, outLength]; one thread per gradient element.
    /// </summary>
    [Kernel("layout")]
    public static void SplitRows1(Index1D i, ArrayView<float> dy, ArrayView<float> dx, int outLength, int inLength, int offset)
    {
        int r = i / outLength, j = i % outLength;
        dx[i] = dy[r * inLength + offset + j];
    }
}

/// <summary>Launches the layout ops' gradients on a device (moves only: bit for bit the reference).</summary>
internal sealed class LayoutBackwardOp(ComputeDevice device)
{
    private readonly LayoutOp layout = new(device);
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int, int> split1 =
        device.Kernel("layout.splitrows.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int>(LayoutBackwardKernels.SplitRows1));

    /// <summary>dx = dy through the inverse permutation of (<paramref name="inputDims"/>, <paramref name="order"/>).</summary>
    public void Permute(ReadOnlySpan<int> inputDims, ReadOnlySpan<int> order, ArrayView<float> dy, ArrayView<float> dx, AcceleratorStream? stream = null) =>
        layout.Permute(LayoutBackwardReference.PermutedDims(inputDims, order), LayoutBackwardReference.InverseOrder(order), dy, dx, stream);

    /// <summary>Splits dy [rows, sum len_i] into the inputs' gradients [rows, len_i].</summary>
    public void ConcatRows(int rows, ArrayView<float> dy, IReadOnlyList<ArrayView<float>> dInputs, AcceleratorStream? stream = null)
    {
        var lengths = LayoutChecks.RowLengths(rows, dInputs.Select(v => v.Length).ToArray(), dy.Length);
        int total = lengths.Sum(), offset = 0;
        for (int t = 0; t < dInputs.Count; t++)
        {
            split1(stream ?? device.Accelerator.DefaultStream, rows * lengths[t], dy, dInputs[t], lengths[t], total, offset);
            offset += lengths[t];
        }
    }

    /// <summary>Flatten and reshape: dx = dy (a device copy; none needed when the engine gives both one buffer).</summary>
    public void Reshape(ArrayView<float> dy, ArrayView<float> dx, AcceleratorStream? stream = null)
    {
        if (dx.Length != dy.Length) throw new ArgumentException($"reshape backward: dy has {dy.Length} floats, dx {dx.Length}");
        dy.CopyTo(stream ?? device.Accelerator.DefaultStream, dx);
    }
}
