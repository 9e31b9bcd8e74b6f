using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Sort;

/// <summary>
/// Stable device sort of (key, value) pairs with ILGPU.Algorithms' radix sort and Ssd's own key orders.
/// Holds a temp buffer that grows as needed, so one instance must not be used by two threads at once.
/// </summary>
public sealed class SortOp(ComputeDevice device) : IDisposable
{
    private readonly RadixSortPairs<float, Stride1D.Dense, int, Stride1D.Dense> descending =
        device.Kernel("sort.pairs.float.descending", a => a.CreateRadixSortPairs<float, Stride1D.Dense, int, Stride1D.Dense, DescendingFloatKey>());
    private readonly RadixSortPairs<float, Stride1D.Dense, int, Stride1D.Dense> ascending =
        device.Kernel("sort.pairs.float.ascending", a => a.CreateRadixSortPairs<float, Stride1D.Dense, int, Stride1D.Dense, AscendingFloatKey>());
    private MemoryBuffer1D<int, Stride1D.Dense>? temp;

    /// <summary>Sorts keys (and their values alongside) ascending or descending; ties keep input order.</summary>
    public void SortPairs(ArrayView<float> keys, ArrayView<int> values, bool descendingOrder, AcceleratorStream? stream = null)
    {
        Check(keys.Length, values.Length);
        if (keys.Length == 0) return;
        var scratch = Temp(descendingOrder
            ? device.Accelerator.ComputeRadixSortPairsTempStorageSize<float, int, DescendingFloatKey>((Index1D)(int)keys.Length)
            : device.Accelerator.ComputeRadixSortPairsTempStorageSize<float, int, AscendingFloatKey>((Index1D)(int)keys.Length));
        (descendingOrder ? descending : ascending)(stream ?? device.Accelerator.DefaultStream, keys, values, scratch);
    }

    private static void Check(long keys, long values)
    {
        if (keys != values) throw new ArgumentException($"sort: {keys} keys but {values} values");
        if (keys > int.MaxValue / 4) throw new ArgumentException($"sort: {keys} pairs is more than the radix sort handles");
    }

    private ArrayView<int> Temp(long size)
    {
        if (temp is null || temp.Length < size)
        {
            temp?.Dispose();
            temp = device.Accelerator.Allocate1D<int>(Math.Max(size, 1));
        }
        return temp.View.SubView(0, size);
    }

    public void Dispose() => temp?.Dispose();
}
