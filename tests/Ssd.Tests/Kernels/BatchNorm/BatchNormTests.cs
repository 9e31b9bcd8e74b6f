using ILGPU;
using ILGPU.Runtime;
using Ssd.Engine.Backends.Cpu;
using Ssd.Kernels.BatchNorm;
using Ssd.Kernels.Core;
using static Ssd.Tests.Cpu.CpuOpsTests;

namespace Ssd.Tests.Kernels.BatchNorm;

/// <summary>
/// BatchNorm (Caffe, inference), Scale and their fused chain with ReLU: the references by hand, then every variant
/// of the chain against the references applied one after another, bit for bit (NaN matches any NaN): the managed
/// SIMD one at every ISA level this CPU runs, the ILGPU kernel on the CPU simulator (small shapes) and on PoCL.
/// </summary>
public class BatchNormTests
{
    [Test]
    public void Batch_norm_reference_is_caffes_formula()
    {
        // [N=2, C=2, inner=2]: channel 0 mean 1 variance 3 (sd 2 with eps 1), channel 1 mean -1 variance 0.
        var g = new ChannelGeometry(2, 2, 2);
        float[] x = [5f, 1f, -1f, 3f, -3f, 9f, 0f, -2f];
        var y = new float[8];
        BatchNormReference.Forward(g, x, [1f, -1f], [3f, 0f], 1f, y);
        Assert.That(y, Is.EqualTo(new[] { 2f, 0f, 0f, 4f, -2f, 4f, 1f, -1f }));
        Assert.That(BatchNormReference.StdDev([3f, 0.5f], 1f), Is.EqualTo(new[] { 2f, MathF.Sqrt(1.5f) }));
        Assert.Throws<ArgumentException>(() => BatchNormReference.Forward(g, x, [1f], [3f, 0f], 1f, y), "one mean for two channels");
        Assert.Throws<ArgumentException>(() => BatchNormReference.StdDev([1f], float.NaN));
    }

    [Test]
    public void Scale_reference_spans_caffes_axes()
    {
        // Scale over axes [1, 3) of [2, 2, 3] (axis 1, num_axes 2): six factors, one per (channel, position).
        var g = ChannelGeometry.Around([2, 2, 3], 1, 2);
        Assert.That(g, Is.EqualTo(new ChannelGeometry(2, 6, 1)));
        var x = Enumerable.Range(1, 12).Select(i => (float)i).ToArray();
        var y = new float[12];
        float[] scale = [1f, 2f, 3f, 4f, 5f, 6f];
        ScaleReference.Forward(g, x, scale, [], y);
        Assert.That(y, Is.EqualTo(new[] { 1f, 4f, 9f, 16f, 25f, 36f, 7f, 16f, 27f, 40f, 55f, 72f }));
        ScaleReference.Forward(new ChannelGeometry(1, 2, 6), x, [2f, -1f], [0.5f, 1f], y);
        Assert.That(y, Is.EqualTo(new[] { 2.5f, 4.5f, 6.5f, 8.5f, 10.5f, 12.5f, -6f, -7f, -8f, -9f, -10f, -11f }));
        // num_axes 0: one factor for everything.
        Assert.That(ChannelGeometry.Around([2, 3, 4], 1, 0), Is.EqualTo(new ChannelGeometry(2, 1, 12)));
        Assert.Throws<ArgumentException>(() => ChannelGeometry.Around([2, 3], 1, 2));
    }

    [Test]
    public void Chain_is_its_stages_one_after_another()
    {
        var g = new ChannelGeometry(1, 2, 3);
        float[] x = [4f, -4f, 1f, 2f, 0f, -6f];
        var affine = new ChannelAffine { Mean = [1f, 2f], Variance = [9f, 4f], Eps = 0f, Scale = [2f, -1f], Bias = [-1f, 0.5f], Relu = true };
        var y = new float[6];
        affine.Reference(g, x, y);
        // channel 0: (x - 1) / 3 * 2 - 1; channel 1: (x - 2) / 2 * -1 + 0.5; then ReLU.
        Assert.That(y, Is.EqualTo(new[] { 1f, 0f, 0f, 0.5f, 1.5f, 4.5f }));
        Assert.That(affine.Flags, Is.EqualTo(ChannelAffine.NormalizeFlag | ChannelAffine.ScaleFlag | ChannelAffine.BiasFlag | ChannelAffine.ReluFlag));
        Assert.Throws<ArgumentException>(() => new ChannelAffine { Mean = [1f, 2f] }.Reference(g, x, y), "a mean without a variance");
        Assert.Throws<ArgumentException>(() => new ChannelAffine { Bias = [1f, 2f] }.Reference(g, x, y), "a bias without factors");
        Assert.Throws<ArgumentException>(() => new ChannelAffine { Scale = [1f, 2f, 3f] }.Reference(g, x, y), "three factors for two channels");
    }

    public sealed record Case(string Name, ChannelGeometry Geometry, bool Norm, bool Scale, bool Bias, bool Relu)
    {
        public ChannelAffine Affine(int seed) => new()
        {
            Mean = Norm ? TestData.Uniform(seed, Geometry.Channels, -2f, 2f) : null,
            Variance = Norm ? TestData.Uniform(seed + 1, Geometry.Channels, 0f, 3f) : null,
            Eps = 1e-5f,
            Scale = Scale ? TestData.Uniform(seed + 2, Geometry.Channels, -1.5f, 1.5f) : null,
            Bias = Bias ? TestData.Uniform(seed + 3, Geometry.Channels) : null,
            Relu = Relu,
        };

        public override string ToString() => Name;
    }

    private static readonly Case[] Cases =
    [
        new("data_bn + data_scale 3x300x300", new(1, 3, 300 * 300), true, true, true, false),
        new("bn + scale + relu 32x75x75", new(1, 32, 75 * 75), true, true, true, true),
        new("bn + scale + relu 256x19x19 batch 2", new(2, 256, 19 * 19), true, true, true, true),
        new("bn alone, odd 5x7x9", new(1, 5, 63), true, false, false, false),
        new("scale alone, inner 1 (a [N, C] blob)", new(3, 40, 1), false, true, false, false),
        new("scale + bias + relu, inner 3", new(2, 7, 3), false, true, true, true),
        new("relu alone", new(1, 1, 1000), false, false, false, true),
    ];

    private static float[] Expected(Case c, ChannelAffine affine, float[] x)
    {
        var y = new float[x.Length];
        affine.Reference(c.Geometry, x, y);
        return y;
    }

    private static IEnumerable<TestCaseData> SimdCases =>
        from c in Cases from isa in Enum.GetValues<CpuIsa>() select new TestCaseData(c, isa).SetArgDisplayNames(c.Name, isa.ToString());

    [TestCaseSource(nameof(SimdCases))]
    public void Simd_is_the_reference(Case c, CpuIsa isa)
    {
        Assume.That(CpuIsaSupport.IsSupported(isa), $"this CPU lacks {isa}");
        var options = new CpuOpOptions(isa, 2);
        var affine = c.Affine(7);
        var x = Spiky(8, c.Geometry.Count);
        var expected = Expected(c, affine, x);
        var actual = new float[x.Length];
        CpuChannelAffine.Forward(c.Geometry, affine, x, actual, options);
        AssertBits(actual, expected, $"{c} {isa}");
        CpuChannelAffine.Forward(c.Geometry, affine, x, x, options);
        AssertBits(x, expected, $"{c} {isa} in place");
    }

    private static IEnumerable<TestCaseData> DeviceCases()
    {
        foreach (var c in Cases.Where(c => c.Geometry.Count <= 10000)) yield return new TestCaseData(BackendKind.CpuSim, c).SetArgDisplayNames("CpuSim", c.Name);
        foreach (var c in Cases) yield return new TestCaseData(BackendKind.OpenCL, c).SetArgDisplayNames("OpenCL", c.Name);
    }

    [TestCaseSource(nameof(DeviceCases))]
    public void Kernel_is_the_reference(BackendKind backend, Case c)
    {
        var device = TestDevices.Get(backend);
        var affine = c.Affine(17);
        var x = Spiky(18, c.Geometry.Count);
        var expected = Expected(c, affine, x);
        var op = new BatchNormOp(device);
        using var constants = op.Upload(affine);
        using var xb = device.Upload(x);
        using var yb = device.Allocate(x.Length);
        op.Forward(c.Geometry, constants, xb.View, yb.View);
        AssertBits(yb.GetAsArray1D(), expected, $"{c} on {backend}");
        op.Forward(c.Geometry, constants, xb.View, xb.View);
        AssertBits(xb.GetAsArray1D(), expected, $"{c} on {backend} in place");
    }

    [Test]
    public void Kernel_refuses_constants_of_another_channel_count()
    {
        var device = TestDevices.CpuSim;
        var op = new BatchNormOp(device);
        using var constants = op.Upload(new ChannelAffine { Scale = [1f, 2f, 3f] });
        using var x = device.Allocate(8);
        Assert.Throws<ArgumentException>(() => op.Forward(new ChannelGeometry(1, 2, 4), constants, x.View, x.View));
        Assert.Throws<ArgumentException>(() => op.Upload(new ChannelAffine { Mean = [1f], Variance = [1f, 2f] }));
    }
}
