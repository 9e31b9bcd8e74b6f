using System.Diagnostics;
using ILGPU.Runtime;
using Ssd.Kernels.Conv;
using Ssd.Kernels.Core;
using Ssd.Kernels.Roofline;

namespace Ssd.Tests.Kernels.Conv;

/// <summary>
/// The GPU-shaped convolutions (register-tiled GEMM, device Winograd, TF32 tensor cores and their twin) beyond the op
/// matrix's small cases: SSD300's layers at full size on PoCL against the plain reference (sampled output channels),
/// the twin against the reference of TF32-rounded inputs (which only a correct fragment layout meets), TF32 rounding
/// itself, and the CUDA selection rule.
/// </summary>
public class Conv2dGemmTests
{
    private sealed record Layer(string Name, TensorShape Input, int OutC, Conv2dParams P);

    private static readonly Layer Conv4_3 = new("conv4_3", new(1, 512, 38, 38), 512, Conv2dParams.Square(3, pad: 1, fuseRelu: true));
    private static readonly Layer Fc6 = new("fc6", new(1, 512, 19, 19), 1024, Conv2dParams.Square(3, pad: 6, dilation: 6, fuseRelu: true));
    private static readonly Layer Conv8_1 = new("conv8_1", new(1, 1024, 19, 19), 256, Conv2dParams.Square(1, fuseRelu: true));
    private static readonly Layer Conv6_2 = new("conv6_2 batch 2", new(2, 256, 19, 19), 512, Conv2dParams.Square(3, stride: 2, pad: 1, fuseRelu: true));
    private static readonly Layer Conv7_2 = new("conv7_2 batch 3", new(3, 128, 10, 10), 256, Conv2dParams.Square(3, stride: 2, pad: 1, fuseRelu: true));

    private static IEnumerable<TestCaseData> FullSizeCases()
    {
        yield return new TestCaseData(Conv4_3, Conv2dVariant.Gemm).SetArgDisplayNames("conv4_3", "Gemm");
        yield return new TestCaseData(Fc6, Conv2dVariant.Gemm).SetArgDisplayNames("fc6", "Gemm");
        yield return new TestCaseData(Conv8_1, Conv2dVariant.Gemm).SetArgDisplayNames("conv8_1", "Gemm");
        yield return new TestCaseData(Conv6_2, Conv2dVariant.Gemm).SetArgDisplayNames("conv6_2", "Gemm");
        yield return new TestCaseData(Conv4_3, Conv2dVariant.Winograd).SetArgDisplayNames("conv4_3", "Winograd");
    }

    [TestCaseSource(nameof(FullSizeCases))]
    public void OpenCLFullSizeLayerMatchesReference(object layer, object variantCase)
    {
        var variant = (Conv2dVariant)variantCase; // object: the test method is public, the variant type internal
        var l = (Layer)layer;
        var (x, w, b) = Data(l, tf32: false);
        var expected = Reference(l, x, w, b, out var channels);
        var actual = RunOnDevice(TestDevices.OpenCL, l, variant, x, w, b);
        Compare(l, variant, actual, expected, channels, 1e-4f, 1e-4f);
    }

    [Test]
    public void Tf32TwinIsTheReferenceOfRoundedInputs()
    {
        // With inputs and weights rounded to TF32 first, the products are exact in float32, so the twin must match the
        // double reference of the rounded values to float32 accumulation error; a fragment taken from the wrong lane or
        // register would be off by O(1).
        var l = Conv7_2;
        var (x, w, b) = Data(l, tf32: false);
        var (xr, wr) = (x.ToArray(), w.ToArray());
        Tf32.Round(xr);
        Tf32.Round(wr);
        var expectedRounded = Reference(l, xr, wr, b, out var channels);
        var actual = RunOnDevice(TestDevices.OpenCL, l, Conv2dVariant.Tf32Emulated, x, w, b);
        Compare(l, Conv2dVariant.Tf32Emulated, actual, expectedRounded, channels, 2e-5f, 2e-5f);
        // ... and it is the float32 convolution within the TF32 bound.
        Compare(l, Conv2dVariant.Tf32Emulated, actual, Reference(l, x, w, b, out _), channels, 3e-3f, 3e-3f);
    }

    [Test]
    public void Tf32TwinOnTheCpuSimulatorMatchesPoCL()
    {
        var l = new Layer("small", new(1, 5, 9, 9), 20, Conv2dParams.Square(3, pad: 1, fuseRelu: true));
        var (x, w, b) = Data(l, tf32: false);
        var sim = RunOnDevice(TestDevices.CpuSim, l, Conv2dVariant.Tf32Emulated, x, w, b);
        var cl = RunOnDevice(TestDevices.OpenCL, l, Conv2dVariant.Tf32Emulated, x, w, b);
        Assert.That(sim, Is.EqualTo(cl).Within(1e-6f));
    }

    [Test]
    public void Tf32RoundingIsRoundToNearestTiesAwayOnTenMantissaBits()
    {
        float one = 1f, ulp = MathF.Pow(2, -10);
        Assert.That(Tf32.Round(one + ulp * 0.49f), Is.EqualTo(one));
        Assert.That(Tf32.Round(one + ulp * 0.5f), Is.EqualTo(one + ulp), "a tie rounds away from zero");
        Assert.That(Tf32.Round(-(one + ulp * 0.5f)), Is.EqualTo(-(one + ulp)));
        Assert.That(Tf32.Round(one + ulp * 1.5f), Is.EqualTo(one + 2 * ulp));
        Assert.That(Tf32.Round(3.1415927f), Is.EqualTo(3.140625f));
        Assert.That(float.IsNaN(Tf32.Round(float.NaN)));
        Assert.That(Tf32.Round(float.PositiveInfinity), Is.EqualTo(float.PositiveInfinity));
        Assert.That(Tf32.Round(float.MaxValue), Is.EqualTo(float.PositiveInfinity), "rounding past the largest TF32 overflows");
        for (int i = 0; i < 1000; i++)
        {
            float v = (float)(new Random(i).NextDouble() * 200 - 100);
            uint bits = BitConverter.SingleToUInt32Bits(Tf32.Round(v));
            Assert.That(bits & 0x1FFF, Is.Zero, "the low 13 mantissa bits are cleared");
            Assert.That(MathF.Abs(Tf32.Round(v) - v), Is.LessThanOrEqualTo(MathF.Abs(v) * MathF.Pow(2, -11) * 1.0001f));
        }
    }

    [Test]
    public void CudaRuleTakesWinogradForWideLayersTf32OnlyWhenAllowedAndNaiveForDepthwise()
    {
        var gpu = GpuSpec.H100;
        var conv4_3 = new TensorShape(8, 512, 38, 38);
        var p3 = Conv2dParams.Square(3, pad: 1, fuseRelu: true);
        Assert.That(Conv2dChoice.ForGpu(p3, conv4_3, 512, gpu, tf32: false), Is.EqualTo(Conv2dVariant.Winograd));
        Assert.That(Conv2dChoice.ForGpu(p3, conv4_3, 512, gpu, tf32: true), Is.EqualTo(Conv2dVariant.Tf32));
        // conv1_1 (3 input channels) gains nothing from Winograd's transforms.
        Assert.That(Conv2dChoice.ForGpu(p3, new TensorShape(8, 3, 300, 300), 64, gpu, tf32: false), Is.Not.EqualTo(Conv2dVariant.Winograd));
        var depthwise = Conv2dParams.Square(3, pad: 1, groups: 256, fuseRelu: true);
        Assert.That(Conv2dChoice.ForGpu(depthwise, new TensorShape(8, 256, 19, 19), 256, gpu, tf32: false), Is.EqualTo(Conv2dVariant.Naive));
        Assert.That(Conv2dChoice.Candidates(depthwise, new TensorShape(8, 256, 19, 19), 256, tf32: false), Does.Not.Contain(Conv2dVariant.Winograd));
    }

    [Test]
    public void VariantsRefuseWhatTheyCannotDo()
    {
        var input = new TensorShape(1, 4, 8, 8);
        Assert.That(Conv2dDevice.Applies(Conv2dVariant.Winograd, Conv2dParams.Square(3, stride: 2, pad: 1), input, 4), Is.False);
        Assert.That(Conv2dDevice.Applies(Conv2dVariant.Winograd, Conv2dParams.Square(3, pad: 2, dilation: 2), input, 4), Is.False);
        Assert.That(Conv2dDevice.Applies(Conv2dVariant.Gemm, Conv2dParams.Square(3, pad: 1, groups: 2), input, 4), Is.True);
        Assert.That(Conv2dDevice.HasTensorCores(TestDevices.OpenCL), Is.False);
        var (x, w, b) = Data(new Layer("t", input, 4, Conv2dParams.Square(3, pad: 1)), false);
        Assert.That(() => RunOnDevice(TestDevices.CpuSim, new Layer("t", input, 4, Conv2dParams.Square(3, pad: 1)), Conv2dVariant.Tf32, x, w, b),
            Throws.InstanceOf<NotSupportedException>().With.Message.Contains("sm_80"));
    }

    private static (float[] X, float[] W, float[] B) Data(Layer l, bool tf32)
    {
        var x = TestData.Uniform(21, l.Input.Count);
        float scale = 1f / MathF.Sqrt(l.P.WeightCount(l.Input.C, l.OutC) / l.OutC);
        var w = TestData.Uniform(22, l.P.WeightCount(l.Input.C, l.OutC), -scale, scale);
        var b = TestData.Uniform(23, l.OutC, -0.5f, 0.5f);
        return (x, w, b);
    }

    private static float[] RunOnDevice(ComputeDevice device, Layer l, Conv2dVariant variant, float[] x, float[] w, float[] b)
    {
        var output = l.P.OutputShape(l.Input, l.OutC);
        using var dx = device.Upload(x);
        using var dy = device.Allocate(output.Count);
        using var conv = new Conv2dDevice(device, variant, l.P, l.Input, l.OutC, dx.View, dy.View, w, b, workspace: null);
        var clock = Stopwatch.StartNew();
        conv.Run(device.Accelerator.DefaultStream);
        device.Synchronize();
        TestContext.Out.WriteLine($"{l.Name} {variant} on {device.Kind}: {clock.Elapsed.TotalMilliseconds:F0} ms (first launch includes kernel load)");
        return dy.GetAsArray1D();
    }

    private static float[] Reference(Layer l, float[] x, float[] w, float[] b, out int[] channels)
    {
        var output = l.P.OutputShape(l.Input, l.OutC);
        var y = new float[output.Count];
        var sampled = l.OutC <= 128 ? Enumerable.Range(0, l.OutC).ToArray()
            : Enumerable.Range(0, l.OutC).Where(o => o % 37 == 0 || o % 128 is 0 or 1 or 127 || o == l.OutC - 1).ToArray();
        Parallel.For(0, output.N * sampled.Length, i =>
            Conv2dReference.ForwardPlane(x, l.Input, w, b, l.P, l.OutC, i / sampled.Length, sampled[i % sampled.Length], y));
        channels = sampled;
        return y;
    }

    private static void Compare(Layer l, Conv2dVariant variant, float[] actual, float[] expected, int[] channels, float rtol, float atol)
    {
        var output = l.P.OutputShape(l.Input, l.OutC);
        for (int n = 0; n < output.N; n++)
            foreach (int o in channels)
            {
                int at = (int)output.Offset(n, o, 0, 0);
                TestData.AssertClose(actual.AsSpan(at, output.PlaneSize), expected.AsSpan(at, output.PlaneSize), rtol, atol,
                    $"{l.Name} {variant}, image {n} channel {o}");
            }
    }
}
