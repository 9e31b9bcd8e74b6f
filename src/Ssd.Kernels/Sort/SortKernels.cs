using ILGPU;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Sort;

/// <summary>
/// Bitonic sort of 64-bit keys in global memory: one launch per (k, j) stage, one thread per compared pair.
/// No shared memory, shuffles or scans, so it runs on every backend (ILGPU.Algorithms' radix sort needs a scan
/// kernel that PoCL refuses to build).
/// </summary>
internal static class SortKernels
{
    /// <summary>
    /// Version 1: one compare-exchange of stage (k, j). Thread i handles the pair (lo, lo + j) with lo the i-th
    /// index whose bit j is clear; the pair sorts ascending when bit k of lo is clear, else descending.
    /// </summary>
    [Kernel("sort")]
    public static void BitonicStep1(Index1D i, ArrayView<ulong> keys, int k, int j)
    {
        int lo = (i / j) * 2 * j + (i % j);
        int hi = lo + j;
        ulong a = keys[lo], b = keys[hi];
        bool ascending = (lo & k) == 0;
        if ((a > b) == ascending)
        {
            keys[lo] = b;
            keys[hi] = a;
        }
    }

    /// <summary>Version 1: fills the padding of a bitonic sort with the largest key.</summary>
    [Kernel("sort")]
    public static void FillMax1(Index1D i, ArrayView<ulong> keys) => keys[i] = ulong.MaxValue;
}
