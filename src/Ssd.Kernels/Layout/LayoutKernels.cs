using ILGPU;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Layout;

/// <summary>ILGPU copy kernels that move data between layouts.</summary>
public static class LayoutKernels
{
    /// <summary>Version 1: one thread per output element; writes coalesce, reads gather through the permuted strides.</summary>
    [Kernel("layout")]
    public static void Permute1(Index1D i, ArrayView<float> x, ArrayView<float> y, PermuteGeometry g)
    {
        int i3 = i % g.D3;
        int rest = i / g.D3;
        int i2 = rest % g.D2;
        rest /= g.D2;
        int i1 = rest % g.D1;
        int i0 = rest / g.D1;
        y[i] = x[i0 * g.S0 + i1 * g.S1 + i2 * g.S2 + i3 * g.S3];
    }

    /// <summary>
    /// Version 1: copies one input [rows, inLength] into columns [offset, offset + inLength) of the output
    /// [rows, outLength]; one thread per input element. Concat launches it once per input.
    /// </summary>
    [Kernel("layout")]
    public static void CopyRows1(Index1D i, ArrayView<float> x, ArrayView<float> y, int inLength, int outLength, int offset)
    {
        int r = i / inLength, j = i % inLength;
        y[r * outLength + offset + j] = x[i];
    }
}
