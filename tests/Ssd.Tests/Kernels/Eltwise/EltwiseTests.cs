using ILGPU;
using ILGPU.Runtime;
using Ssd.Engine.Backends.Cpu;
using Ssd.Kernels.Core;
using Ssd.Kernels.Eltwise;
using static Ssd.Tests.Cpu.CpuOpsTests;

namespace Ssd.Tests.Kernels.Eltwise;

/// <summary>
/// Eltwise: the reference by hand (Caffe's sum with coefficients, product, and max with its tie and NaN rules),
/// then every variant against it bit for bit (NaN matches any NaN): the managed SIMD one at every ISA level this CPU
/// runs (2 worker threads), the ILGPU kernels on the CPU simulator (small shapes) and on PoCL (ResNet-SSD's sizes).
/// </summary>
public class EltwiseTests
{
    private static float[] Run(EltwiseMode mode, float[][] inputs, float[] coefficients)
    {
        var y = new float[inputs[0].Length];
        EltwiseReference.Forward(mode, inputs, coefficients, y);
        return y;
    }

    [Test]
    public void Reference_follows_caffe()
    {
        float[] a = [1f, -2f, 3f, float.NaN, 5f, -0f], b = [4f, 5f, -6f, 1f, float.NaN, 0f], c = [0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f];
        Assert.That(Run(EltwiseMode.Sum, [a, b], []), Is.EqualTo(new[] { 5f, 3f, -3f, float.NaN, float.NaN, 0f }));
        Assert.That(Run(EltwiseMode.Sum, [a, b, c], [2f, -1f, 4f]), Is.EqualTo(new[] { 0f, -7f, 14f, float.NaN, float.NaN, 2f }));
        Assert.That(Run(EltwiseMode.Product, [a, b, c], []), Is.EqualTo(new[] { 2f, -5f, -9f, float.NaN, float.NaN, -0f }));
        // Max: a > b ? a : b, then x > y ? x : y. A NaN first input loses; a NaN later input never wins.
        var max = Run(EltwiseMode.Max, [a, b], []);
        Assert.That(max.Take(5), Is.EqualTo(new[] { 4f, 5f, 3f, 1f, float.NaN }));
        Assert.That(BitConverter.SingleToInt32Bits(max[5]), Is.EqualTo(0), "max(-0, +0): the second input on a tie");
        var max3 = Run(EltwiseMode.Max, [b, a, [float.NaN, 9f, float.NaN, float.NaN, 0f, -1f]], []);
        Assert.That(max3, Is.EqualTo(new[] { 4f, 9f, 3f, float.NaN, 5f, 0f }));
    }

    [Test]
    public void Bad_arguments_are_refused()
    {
        var y = new float[3];
        float[] x = [1f, 2f, 3f];
        Assert.Throws<ArgumentException>(() => EltwiseReference.Forward(EltwiseMode.Sum, [x], [], y), "one input");
        Assert.Throws<ArgumentException>(() => EltwiseReference.Forward(EltwiseMode.Product, [x, x], [1f, 2f], y), "coefficients for a product");
        Assert.Throws<ArgumentException>(() => EltwiseReference.Forward(EltwiseMode.Sum, [x, x], [1f], y), "one coefficient for two inputs");
        Assert.Throws<ArgumentException>(() => EltwiseReference.Forward(EltwiseMode.Sum, [x, new float[4]], [], y), "lengths differ");
        Assert.Throws<ArgumentException>(() => EltwiseReference.Forward((EltwiseMode)7, [x, x], [], y), "unknown operation");
        Assert.Throws<ArgumentException>(() => CpuEltwise.Forward(EltwiseMode.Sum, [x, new float[2]], [], y));
    }

    public sealed record Case(string Name, EltwiseMode Mode, int Inputs, float[] Coefficients, int Length)
    {
        public override string ToString() => Name;
    }

    private static readonly Case[] Cases =
    [
        new("sum of 2, 75x75x32 (layer_64_1_sum)", EltwiseMode.Sum, 2, [], 32 * 75 * 75),
        new("sum of 2, 19x19x256 (layer_512_1_sum)", EltwiseMode.Sum, 2, [], 256 * 19 * 19),
        new("weighted sum of 3, odd length", EltwiseMode.Sum, 3, [0.5f, -1f, 3f], 1001),
        new("weighted sum of 2", EltwiseMode.Sum, 2, [-0.25f, 1.5f], 4099),
        new("product of 3", EltwiseMode.Product, 3, [], 777),
        new("max of 2", EltwiseMode.Max, 2, [], 5003),
        new("max of 4", EltwiseMode.Max, 4, [], 2055),
        new("sum of 5 short", EltwiseMode.Sum, 5, [], 13),
    ];

    private static float[][] Inputs(Case c, int seed) => [.. Enumerable.Range(0, c.Inputs).Select(k => Spiky(seed + k, c.Length))];

    private static IEnumerable<TestCaseData> SimdCases =>
        from c in Cases from isa in Enum.GetValues<CpuIsa>() select new TestCaseData(c, isa).SetArgDisplayNames(c.Name, isa.ToString());

    [TestCaseSource(nameof(SimdCases))]
    public void Simd_is_the_reference(Case c, CpuIsa isa)
    {
        Assume.That(CpuIsaSupport.IsSupported(isa), $"this CPU lacks {isa}");
        var options = new CpuOpOptions(isa, 2);
        var x = Inputs(c, 31);
        var expected = Run(c.Mode, x, c.Coefficients);
        var actual = new float[c.Length];
        CpuEltwise.Forward(c.Mode, x, c.Coefficients, actual, options);
        AssertBits(actual, expected, $"{c} {isa}");

        // In place over the first input, inputs as slices of one buffer (the arena's layout).
        var arena = x.SelectMany(v => v).ToArray();
        var offsets = Enumerable.Range(0, c.Inputs).Select(k => k * c.Length).ToArray();
        CpuEltwise.Forward(c.Mode, arena, offsets, c.Coefficients, arena.AsSpan(0, c.Length), options);
        AssertBits(arena.AsSpan(0, c.Length), expected, $"{c} {isa} in place");
    }

    private static IEnumerable<TestCaseData> DeviceCases()
    {
        foreach (var c in Cases.Where(c => c.Length <= 5003)) yield return new TestCaseData(BackendKind.CpuSim, c).SetArgDisplayNames("CpuSim", c.Name);
        foreach (var c in Cases) yield return new TestCaseData(BackendKind.OpenCL, c).SetArgDisplayNames("OpenCL", c.Name);
    }

    [TestCaseSource(nameof(DeviceCases))]
    public void Kernels_are_the_reference(BackendKind backend, Case c)
    {
        var device = TestDevices.Get(backend);
        var x = Inputs(c, 41);
        var expected = Run(c.Mode, x, c.Coefficients);
        var buffers = x.Select(v => device.Upload(v)).ToList();
        try
        {
            using var y = device.Allocate(c.Length);
            var op = new EltwiseOp(device);
            op.Forward(c.Mode, buffers.Select(b => (ArrayView<float>)b.View).ToArray(), c.Coefficients, y.View);
            AssertBits(y.GetAsArray1D(), expected, $"{c} on {backend}");
            op.Forward(c.Mode, buffers.Select(b => (ArrayView<float>)b.View).ToArray(), c.Coefficients, buffers[0].View); // in place
            AssertBits(buffers[0].GetAsArray1D(), expected, $"{c} on {backend} in place");
        }
        finally
        {
            foreach (var b in buffers) b.Dispose();
        }
    }
}
