using ILGPU.Runtime;
using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;
using Ssd.Kernels.Pooling;
using Ssd.Tests.Kernels.Backward;
using static Ssd.Tests.Kernels.Pooling.PoolBackwardTests;

namespace Ssd.Tests.Kernels.Pooling;

/// <summary>
/// The pooling backward variants against <see cref="PoolBackwardReference"/>, bit for bit (same comparisons, same
/// additions in the same order): the SIMD CPU variant with every ISA level forced, the ILGPU kernels on the CPU
/// simulator (small shapes) and PoCL (small shapes and the torch fixtures' pool3 / pool5).
/// </summary>
public class PoolBackwardVariantTests
{
    public static IEnumerable<TestCaseData> CasesByIsa() =>
        from c in SmallCases
        from isa in CpuVariants.Isas
        select new TestCaseData(c, isa).SetArgDisplayNames(c.Name, isa.ToString());

    public static IEnumerable<TestCaseData> CasesByBackend() =>
        from c in SmallCases
        from b in TestDevices.Backends
        select new TestCaseData(c, b).SetArgDisplayNames(c.Name, b.ToString());

    private static (float[] X, float[] Dy, float[] Y, int[] Argmax) Data(PoolGeometry g, int seed)
    {
        var x = CpuVariants.Spiky(seed, g.Input.Count);
        var dy = TestData.Uniform(seed + 1, g.Output.Count);
        var (y, a) = (new float[g.Output.Count], new int[g.Output.Count]);
        PoolBackwardReference.MaxWithArgmax(g, x, y, a);
        return (x, dy, y, a);
    }

    [TestCaseSource(nameof(CasesByIsa))]
    public void SimdMatchesReferenceBitForBit(Case c, CpuIsa isa)
    {
        var options = CpuVariants.Options(isa);
        var g = c.Geometry;
        var (x, dy, y, argmax) = Data(g, 5);
        var (ay, aa) = (new float[y.Length], new int[y.Length]);
        CpuPooling.MaxWithArgmax(g, x, ay, aa, options);
        CpuVariants.AssertBits(ay, y, $"{c.Name} {isa}: y");
        Assert.That(aa, Is.EqualTo(argmax), $"{c.Name} {isa}: argmax");
        var (expected, actual) = (new float[x.Length], new float[x.Length]);
        PoolBackwardReference.MaxBackward(g, argmax, dy, expected);
        PoolBackwardSimd.MaxBackward(g, argmax, dy, actual, options);
        CpuVariants.AssertBits(actual, expected, $"{c.Name} {isa}: max dx");
        foreach (var divisor in new[] { AvgPoolDivisor.PaddedWindow, AvgPoolDivisor.ValidWindow })
        {
            PoolBackwardReference.AverageBackward(g, divisor, dy, expected);
            PoolBackwardSimd.AverageBackward(g, divisor, dy, actual, options);
            CpuVariants.AssertBits(actual, expected, $"{c.Name} {isa}: average dx ({divisor})");
        }
    }

    [TestCaseSource(nameof(CasesByBackend))]
    public void KernelsMatchReferenceBitForBit(Case c, BackendKind backend) => CompareOnDevice(TestDevices.Get(backend), c.Geometry, 9, c.Name);

    [TestCase("pool3_ceil")]
    [TestCase("pool5")]
    public void SsdPoolsMatchTheReference(string name)
    {
        var f = BackwardFixtures.Case(name);
        var g = TorchGeometry(f);
        var (x, dy) = (f.F("x"), f.F("dy"));
        var (y, a, dx) = (new float[g.Output.Count], new int[g.Output.Count], new float[g.Input.Count]);
        CpuPooling.MaxWithArgmax(g, x, y, a);
        Assert.That(a, Is.EqualTo(f.I("argmax")), $"{name}: SIMD argmax is torch's");
        PoolBackwardSimd.MaxBackward(g, a, dy, dx);
        CpuVariants.AssertBits(dx, f.F("dx"), $"{name}: SIMD dx is torch's");
        CompareOnDevice(TestDevices.OpenCL, g, 0, name, x, dy);
    }

    private static void CompareOnDevice(ComputeDevice device, PoolGeometry g, int seed, string what, float[]? x = null, float[]? dy = null)
    {
        x ??= CpuVariants.Spiky(seed, g.Input.Count);
        dy ??= TestData.Uniform(seed + 1, g.Output.Count);
        var (y, argmax, dx) = (new float[g.Output.Count], new int[g.Output.Count], new float[g.Input.Count]);
        PoolBackwardReference.MaxWithArgmax(g, x, y, argmax);
        var op = new PoolBackwardOp(device);
        using var bx = device.Upload(x);
        using var bdy = device.Upload(dy);
        using var by = device.Allocate(y.Length);
        using var ba = device.Accelerator.Allocate1D<int>(argmax.Length);
        using var bdx = device.Allocate(dx.Length);
        op.MaxWithArgmax(g, bx.View, by.View, ba.View);
        op.MaxBackward(g, ba.View, bdy.View, bdx.View);
        device.Synchronize();
        CpuVariants.AssertBits(by.GetAsArray1D(), y, $"{what} on {device.Kind}: y");
        Assert.That(ba.GetAsArray1D(), Is.EqualTo(argmax), $"{what} on {device.Kind}: argmax");
        PoolBackwardReference.MaxBackward(g, argmax, dy, dx);
        CpuVariants.AssertBits(bdx.GetAsArray1D(), dx, $"{what} on {device.Kind}: max dx");
        foreach (var divisor in new[] { AvgPoolDivisor.PaddedWindow, AvgPoolDivisor.ValidWindow })
        {
            op.AverageBackward(g, divisor, bdy.View, bdx.View);
            device.Synchronize();
            PoolBackwardReference.AverageBackward(g, divisor, dy, dx);
            CpuVariants.AssertBits(bdx.GetAsArray1D(), dx, $"{what} on {device.Kind}: average dx ({divisor})");
        }
    }
}
