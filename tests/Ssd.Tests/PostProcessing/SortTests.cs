using ILGPU.Runtime;
using Ssd.Kernels.Core;
using Ssd.Kernels.Detect;
using Ssd.Kernels.Sort;

namespace Ssd.Tests.PostProcessing;

public class SortTests
{
    private static float[] TrickyKeys()
    {
        float one = 1f, big = 1000.5f;
        return
        [
            0f, -0f, 1e-45f, -1e-45f, one, MathF.BitIncrement(one), MathF.BitDecrement(one), -one,
            MathF.BitIncrement(-one), MathF.BitDecrement(-one), big, -big, float.PositiveInfinity, float.NegativeInfinity,
            0.5f, 0.5f, -0.5f, -0.5f, 0f, -0f, one, one, float.MaxValue, float.MinValue, 3.25f, -3.25f, 0.5f,
        ];
    }

    [Test]
    public void SortKeyIsOrderPreserving()
    {
        var keys = TrickyKeys().Distinct().ToArray();
        foreach (var a in keys)
            foreach (var b in keys)
            {
                bool less = a < b || (a == b && float.IsNegative(a) && !float.IsNegative(b));
                Assert.That(FloatSortKey.Ascending(a) < FloatSortKey.Ascending(b), Is.EqualTo(less), $"{a} vs {b}");
                Assert.That(BitConverter.SingleToUInt32Bits(FloatSortKey.FromAscending(FloatSortKey.Ascending(a))),
                    Is.EqualTo(BitConverter.SingleToUInt32Bits(a)));
            }
    }

    [TestCase(BackendKind.CpuSim, 1000)]
    [TestCase(BackendKind.OpenCL, 174_640)]
    [TestCase(BackendKind.OpenCL, 1)]
    public void BitonicSortOrdersUniqueKeys(BackendKind backend, int n)
    {
        var device = TestDevices.Get(backend);
        var rng = new Random(11);
        // Segments, tied scores with mixed signs, and indices: all keys distinct, order = segment, score desc, index.
        var items = Enumerable.Range(0, n).Select(i => (Seg: rng.Next(20), Score: (rng.Next(21) - 10) * 0.125f, Item: i % 8732)).ToArray();
        var keys = items.Select(t => DetectKey.Make(t.Seg, t.Score, t.Item, 16)).ToArray();
        var expected = items.OrderBy(t => t.Seg).ThenByDescending(t => t.Score).ThenBy(t => t.Item).ToArray();

        using var buffer = device.Accelerator.Allocate1D<ulong>(BitonicSortOp.PaddedLength(n));
        buffer.View.SubView(0, n).CopyFromCPU(keys);
        new BitonicSortOp(device).Sort(buffer.View, n);
        var sorted = buffer.GetAsArray1D().Take(n).ToArray();

        Assert.That(sorted.Select(k => ((int)(k >> 48), DetectKey.Score(k, 16), DetectKey.Item(k, 16))),
            Is.EqualTo(expected.Select(t => (t.Seg, t.Score, t.Item))));
    }
}
