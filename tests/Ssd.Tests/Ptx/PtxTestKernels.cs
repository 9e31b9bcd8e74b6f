using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Algorithms.ScanReduceOperations;
using Ssd.Kernels.Core;

namespace Ssd.Tests.Ptx;

/// <summary>
/// Kernels that exist only to check the PTX path on what relu does not use: explicit grouping with a group-size
/// specialisation, static shared memory with barriers, and ILGPU.Algorithms intrinsics. They are catalogued from
/// this test assembly (<see cref="KernelCatalog.Discover"/>), not from Ssd.Kernels.
/// </summary>
internal static class PtxTestKernels
{
    public const int SumGroupSize = 256;
    public const int ReduceGroupSize = 128;

    /// <summary>Each group sums its 256 elements by a shared-memory tree reduction.</summary>
    [Kernel("ptxtest", GroupSize = SumGroupSize)]
    public static void GroupSum(ArrayView<float> x, ArrayView<float> sums)
    {
        var tile = SharedMemory.Allocate<float>(SumGroupSize);
        int t = Group.IdxX;
        long i = Grid.GlobalIndex.X;
        tile[t] = i < x.Length ? x[i] : 0f;
        Group.Barrier();
        for (int stride = SumGroupSize / 2; stride > 0; stride /= 2)
        {
            if (t < stride) tile[t] += tile[t + stride];
            Group.Barrier();
        }
        if (t == 0) sums[Grid.IdxX] = tile[0];
    }

    /// <summary>Each group sums exp(x) with ILGPU.Algorithms' group reduction and XMath.</summary>
    [Kernel("ptxtest", GroupSize = ReduceGroupSize)]
    public static void GroupExpSum(ArrayView<float> x, ArrayView<float> sums)
    {
        long i = Grid.GlobalIndex.X;
        float value = i < x.Length ? XMath.Exp(x[i]) : 0f;
        float sum = GroupExtensions.Reduce<float, AddFloat>(value);
        if (Group.IsFirstThread) sums[Grid.IdxX] = sum;
    }

    public static IReadOnlyList<KernelEntry> All { get; } = KernelCatalog.Discover(typeof(PtxTestKernels).Assembly);
}
