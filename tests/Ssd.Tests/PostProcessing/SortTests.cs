using ILGPU.Runtime;
using Ssd.Kernels.Core;
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

    // ILGPU.Algorithms' radix sort builds a multi-pass scan kernel that PoCL refuses (clCreateKernel fails), so the
    // radix sort is tested on the CPU simulator only; the NMS uses BitonicSortOp, which runs everywhere.
    // Each radix sort call costs tens of seconds on the loaded CPU simulator, so one call covers the tricky keys and
    // many ties together; the ascending order only differs in FloatSortKey, tested above.
    [TestCase(BackendKind.CpuSim, true)]
    [TestCase(BackendKind.CpuSim, false, Explicit = true, Reason = "slow on the CPU simulator")]
    public void TrickyKeysSortStably(BackendKind backend, bool descending)
    {
        var rng = new Random(7);
        var keys = TrickyKeys().Concat(Enumerable.Range(0, 200).Select(_ => (rng.Next(41) - 20) * 0.25f)).ToArray();
        AssertSortMatchesReference(TestDevices.Get(backend), keys, descending);
    }

    private static void AssertSortMatchesReference(ComputeDevice device, float[] keys, bool descending)
    {
        var values = Enumerable.Range(0, keys.Length).ToArray();
        var expectedKeys = keys.ToArray();
        var expectedValues = values.ToArray();
        SortReference.SortPairs(expectedKeys, expectedValues, descending);

        using var k = device.Upload(keys);
        using var v = device.Accelerator.Allocate1D(values);
        using var sort = new SortOp(device);
        sort.SortPairs(k.View, v.View, descending);
        var actualKeys = k.GetAsArray1D();
        var actualValues = v.GetAsArray1D();

        Assert.That(actualValues, Is.EqualTo(expectedValues), "values (stability)");
        Assert.That(actualKeys.Select(BitConverter.SingleToUInt32Bits), Is.EqualTo(expectedKeys.Select(BitConverter.SingleToUInt32Bits)), "keys");
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
        var keys = items.Select(t => UniqueKey.Make(t.Seg, t.Score, t.Item)).ToArray();
        var expected = items.OrderBy(t => t.Seg).ThenByDescending(t => t.Score).ThenBy(t => t.Item).ToArray();

        using var buffer = device.Accelerator.Allocate1D<ulong>(BitonicSortOp.PaddedLength(n));
        buffer.View.SubView(0, n).CopyFromCPU(keys);
        new BitonicSortOp(device).Sort(buffer.View, n);
        var sorted = buffer.GetAsArray1D().Take(n).ToArray();

        Assert.That(sorted.Select(k => (UniqueKey.Segment(k), UniqueKey.Score(k), UniqueKey.Item(k))),
            Is.EqualTo(expected.Select(t => (t.Seg, t.Score, t.Item))));
    }
}
