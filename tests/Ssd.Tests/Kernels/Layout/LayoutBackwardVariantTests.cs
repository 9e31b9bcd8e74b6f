using ILGPU.Runtime;
using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;
using Ssd.Kernels.Layout;
using Ssd.Tests.Kernels.Backward;

namespace Ssd.Tests.Kernels.Layout;

/// <summary>
/// The layout gradients' variants (SIMD with every ISA level forced; ILGPU on the CPU simulator and PoCL) against
/// <see cref="LayoutBackwardReference"/>, bit for bit: every permutation order on an odd shape, the split of a concat,
/// and SSD300's six loc heads (permute to NHWC, flatten, concat) end to end against torch's gradients.
/// </summary>
public class LayoutBackwardVariantTests
{
    public static IEnumerable<int[]> Orders() => LayoutBackwardTests.Orders();

    [TestCaseSource(nameof(Orders))]
    public void PermuteVariants(int[] order)
    {
        int[] dims = [2, 5, 7, 3];
        var dy = CpuVariants.Spiky(3, 210);
        var expected = new float[210];
        LayoutBackwardReference.Permute(dims, order, dy, expected);
        foreach (var isa in CpuVariants.Isas.Where(CpuIsaSupport.IsSupported))
        {
            var dx = new float[210];
            LayoutBackwardSimd.Permute(dims, order, dy, dx, new CpuOpOptions(isa, 2));
            CpuVariants.AssertBits(dx, expected, $"{string.Join(",", order)} {isa}");
        }
        foreach (var backend in TestDevices.Backends)
        {
            var device = TestDevices.Get(backend);
            using var bdy = device.Upload(dy);
            using var bdx = device.Allocate(210);
            new LayoutBackwardOp(device).Permute(dims, order, bdy.View, bdx.View);
            device.Synchronize();
            CpuVariants.AssertBits(bdx.GetAsArray1D(), expected, $"{string.Join(",", order)} on {backend}");
        }
    }

    [Test]
    public void HeadsEndToEndOnEveryVariant()
    {
        var f = BackwardFixtures.Case("mbox_loc");
        int k = f.Int("inputs"), batch = f.Shape("x0")[0];
        var dy = f.F("dy");
        int[] lengths = [.. Enumerable.Range(0, k).Select(i => f.F($"x{i}").Length)];
        int[] offsets = [.. lengths.Select((_, i) => lengths.Take(i).Sum())];
        // SIMD: split into one buffer, then each head's permute backward.
        var split = new float[lengths.Sum()];
        LayoutBackwardSimd.ConcatRows(batch, dy, split, offsets, lengths);
        for (int i = 0; i < k; i++)
        {
            var dx = new float[lengths[i]];
            LayoutBackwardSimd.Permute(f.Shape($"x{i}"), PermuteGeometry.NchwToNhwc, split.AsSpan(offsets[i], lengths[i]), dx);
            CpuVariants.AssertBits(dx, f.F($"dx{i}"), $"SIMD head {i}");
        }
        foreach (var backend in TestDevices.Backends.Where(b => b != BackendKind.CpuSim))
        {
            var device = TestDevices.Get(backend);
            var op = new LayoutBackwardOp(device);
            using var bdy = device.Upload(dy);
            var parts = lengths.Select(l => device.Allocate(l)).ToArray();
            var grads = lengths.Select(l => device.Allocate(l)).ToArray();
            try
            {
                op.ConcatRows(batch, bdy.View, parts.Select(p => p.View.BaseView).ToArray());
                for (int i = 0; i < k; i++) op.Permute(f.Shape($"x{i}"), PermuteGeometry.NchwToNhwc, parts[i].View, grads[i].View);
                device.Synchronize();
                for (int i = 0; i < k; i++) CpuVariants.AssertBits(grads[i].GetAsArray1D(), f.F($"dx{i}"), $"{backend} head {i}");
            }
            finally
            {
                foreach (var b in parts.Concat(grads)) b.Dispose();
            }
        }
    }

    [Test]
    public void SplitAndReshapeOnTheCpuSimulator()
    {
        var device = TestDevices.CpuSim;
        const int rows = 3;
        var dy = CpuVariants.Spiky(5, rows * 9);
        float[][] expected = [new float[rows * 2], new float[rows * 7]];
        LayoutBackwardReference.ConcatRows(rows, dy, expected);
        using var bdy = device.Upload(dy);
        using var a = device.Allocate(rows * 2);
        using var b = device.Allocate(rows * 7);
        using var copy = device.Allocate(dy.Length);
        var op = new LayoutBackwardOp(device);
        op.ConcatRows(rows, bdy.View, [a.View.BaseView, b.View.BaseView]);
        op.Reshape(bdy.View, copy.View);
        device.Synchronize();
        CpuVariants.AssertBits(a.GetAsArray1D(), expected[0], "split 0");
        CpuVariants.AssertBits(b.GetAsArray1D(), expected[1], "split 1");
        CpuVariants.AssertBits(copy.GetAsArray1D(), dy, "reshape");
        Assert.Throws<ArgumentException>(() => op.ConcatRows(rows, bdy.View, [a.View.BaseView]));
        Assert.Throws<ArgumentException>(() => LayoutBackwardSimd.ConcatRows(rows, dy, new float[27], [0, 6], [6, 20]));
        Assert.Throws<ArgumentException>(() => LayoutBackwardReference.InverseOrder([0, 1, 1, 3]));
    }
}
