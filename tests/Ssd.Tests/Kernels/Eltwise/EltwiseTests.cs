using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;
using Ssd.Kernels.Eltwise;
using static Ssd.Tests.Kernels.CpuVariants;

namespace Ssd.Tests.Kernels.Eltwise;

/// <summary>
/// Eltwise: the reference by hand (Caffe's sum with coefficients, product, and max with its tie and NaN rules), the
/// argument checks, and the variants run in place over their first input (the op matrix, EltwiseCases, checks them
/// against the reference on every backend with separate buffers).
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
    public void ReferenceFollowsCaffe()
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
    public void BadArgumentsAreRefused()
    {
        var y = new float[3];
        float[] x = [1f, 2f, 3f];
        Assert.Throws<ArgumentException>(() => EltwiseReference.Forward(EltwiseMode.Sum, [x], [], y), "one input");
        Assert.Throws<ArgumentException>(() => EltwiseReference.Forward(EltwiseMode.Product, [x, x], [1f, 2f], y), "coefficients for a product");
        Assert.Throws<ArgumentException>(() => EltwiseReference.Forward(EltwiseMode.Sum, [x, x], [1f], y), "one coefficient for two inputs");
        Assert.Throws<ArgumentException>(() => EltwiseReference.Forward(EltwiseMode.Sum, [x, new float[4]], [], y), "lengths differ");
        Assert.Throws<ArgumentException>(() => EltwiseReference.Forward((EltwiseMode)7, [x, x], [], y), "unknown operation");
        Assert.Throws<ArgumentException>(() => CpuEltwise.Forward(EltwiseMode.Sum, [x, new float[2]], [], y));
        Assert.Throws<ArgumentException>(() => CpuEltwise.Forward(EltwiseMode.Sum, new float[6], [0, 4], [], y), "an input outside the source");
    }

    private static readonly (EltwiseMode Mode, float[] Coefficients, int Inputs)[] InPlaceCases =
        [(EltwiseMode.Sum, [], 2), (EltwiseMode.Sum, [0.5f, -1f, 3f], 3), (EltwiseMode.Product, [], 3), (EltwiseMode.Max, [], 4)];

    private static IEnumerable<TestCaseData> SimdInPlace =>
        from c in InPlaceCases from isa in Isas select new TestCaseData(c.Mode, c.Coefficients, c.Inputs, isa);

    [TestCaseSource(nameof(SimdInPlace))]
    public void SimdRunsInPlaceOverTheFirstInput(EltwiseMode mode, float[] coefficients, int inputs, CpuIsa isa)
    {
        const int length = 70001; // several worker chunks and a vector tail
        var x = Enumerable.Range(0, inputs).Select(k => Spiky(61 + k, length)).ToArray();
        var expected = Run(mode, x, coefficients);
        // Inputs as slices of one buffer (the arena's layout), the output over the first.
        var arena = x.SelectMany(v => v).ToArray();
        var offsets = Enumerable.Range(0, inputs).Select(k => k * length).ToArray();
        CpuEltwise.Forward(mode, arena, offsets, coefficients, arena.AsSpan(0, length), Options(isa));
        AssertBits(arena.AsSpan(0, length), expected, $"{mode} of {inputs} at {isa}, in place");
    }

    [TestCase(BackendKind.CpuSim, 1001)]
    [TestCase(BackendKind.OpenCL, 256 * 19 * 19)]
    public void KernelsRunInPlaceOverTheFirstInput(BackendKind backend, int length)
    {
        var device = TestDevices.Get(backend);
        foreach (var (mode, coefficients, inputs) in InPlaceCases)
        {
            var x = Enumerable.Range(0, inputs).Select(k => Spiky(71 + k, length)).ToArray();
            var expected = Run(mode, x, coefficients);
            var buffers = x.Select(v => device.Upload(v)).ToList();
            try
            {
                new EltwiseOp(device).Forward(mode, buffers.Select(b => (ArrayView<float>)b.View).ToArray(), coefficients, buffers[0].View);
                AssertBits(buffers[0].GetAsArray1D(), expected, $"{mode} of {inputs} on {backend}, in place");
            }
            finally
            {
                foreach (var b in buffers) b.Dispose();
            }
        }
    }
}
