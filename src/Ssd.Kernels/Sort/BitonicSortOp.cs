using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Sort;

/// <summary>Sorts 64-bit keys ascending on the device with a global-memory bitonic network (any backend).</summary>
internal sealed class BitonicSortOp(ComputeDevice device)
{
    private readonly Action<AcceleratorStream, Index1D, ArrayView<ulong>, int, int> step1 =
        device.Kernel("sort.bitonic.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<ulong>, int, int>(SortKernels.BitonicStep1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<ulong>> fill1 =
        device.Kernel("sort.fillmax.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<ulong>>(SortKernels.FillMax1));

    /// <summary>The buffer length a sort of <paramref name="count"/> keys needs: the next power of two.</summary>
    public static int PaddedLength(int count)
    {
        if (count < 0 || count > 1 << 30) throw new ArgumentException($"bitonic sort: {count} keys is out of range");
        int n = 1;
        while (n < count) n <<= 1;
        return n;
    }

    /// <summary>
    /// Sorts the first <paramref name="count"/> keys of <paramref name="keys"/> ascending. The view must hold
    /// <see cref="PaddedLength"/>(count) keys; the padding is overwritten with ulong.MaxValue and stays at the end.
    /// </summary>
    public void Sort(ArrayView<ulong> keys, int count, AcceleratorStream? stream = null)
    {
        int n = PaddedLength(count);
        if (keys.Length < n) throw new ArgumentException($"bitonic sort: {count} keys need a buffer of {n}, got {keys.Length}");
        if (n < 2) return;
        var s = stream ?? device.Accelerator.DefaultStream;
        if (n > count) fill1(s, n - count, keys.SubView(count, n - count));
        for (int k = 2; k <= n; k <<= 1)
            for (int j = k >> 1; j > 0; j >>= 1)
                step1(s, n / 2, keys.SubView(0, n), k, j);
    }
}
