using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.BatchNorm;
using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;
using static Ssd.Tests.Kernels.CpuVariants;

namespace Ssd.Tests.Kernels.BatchNorm;

/// <summary>
/// BatchNorm (Caffe, inference), Scale and their fused chain with ReLU: the references by hand, the argument checks,
/// and the variants in place (the op matrix, BatchNormCases, checks every variant against the stages' references
/// run one after another, on every backend, bit for bit).
/// </summary>
public class BatchNormTests
{
    [Test]
    public void BatchNormReferenceIsCaffesFormula()
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
    public void ScaleReferenceSpansCaffesAxes()
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
    public void ChainIsItsStagesOneAfterAnother()
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

    private static IEnumerable<CpuIsa> IsaLevels => Isas;

    [TestCaseSource(nameof(IsaLevels))]
    public void SimdRunsInPlace(CpuIsa isa)
    {
        var g = new ChannelGeometry(2, 33, 19 * 19);
        var affine = BatchNormCases.Affine(g, true, true, true, true, 17);
        var x = Spiky(18, g.Count);
        var expected = new float[x.Length];
        affine.Reference(g, x, expected);
        CpuChannelAffine.Forward(g, affine, x, x, Options(isa));
        AssertBits(x, expected, $"in place at {isa}");
    }

    [TestCase(BackendKind.CpuSim)]
    [TestCase(BackendKind.OpenCL)]
    public void KernelRunsInPlace(BackendKind backend)
    {
        var device = TestDevices.Get(backend);
        var g = backend == BackendKind.CpuSim ? new ChannelGeometry(2, 5, 7) : new ChannelGeometry(1, 256, 38 * 38);
        var affine = BatchNormCases.Affine(g, true, true, true, true, 27);
        var x = Spiky(28, g.Count);
        var expected = new float[x.Length];
        affine.Reference(g, x, expected);
        var op = new BatchNormOp(device);
        using var constants = op.Upload(affine);
        using var xb = device.Upload(x);
        op.Forward(g, constants, xb.View, xb.View);
        AssertBits(xb.GetAsArray1D(), expected, $"in place on {backend}");
    }

    [Test]
    public void KernelRefusesConstantsOfAnotherChannelCount()
    {
        var device = TestDevices.CpuSim;
        var op = new BatchNormOp(device);
        using var constants = op.Upload(new ChannelAffine { Scale = [1f, 2f, 3f] });
        using var x = device.Allocate(8);
        Assert.Throws<ArgumentException>(() => op.Forward(new ChannelGeometry(1, 2, 4), constants, x.View, x.View));
        Assert.Throws<ArgumentException>(() => op.Upload(new ChannelAffine { Mean = [1f], Variance = [1f, 2f] }));
    }
}
