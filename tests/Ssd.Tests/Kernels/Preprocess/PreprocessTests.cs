using ILGPU.Runtime;
using Ssd.Kernels.Core;
using Ssd.Kernels.Preprocess;

namespace Ssd.Tests.Kernels.Preprocess;

public class PreprocessTests
{
    private static IEnumerable<PreprocessFixtures.Case> OpenCvCases => PreprocessFixtures.OpenCv;
    private static IEnumerable<PreprocessFixtures.Case> TorchCases => PreprocessFixtures.Torch;

    private static PreprocessSettings TorchSettings(int w, int h) => new()
    {
        Width = w, Height = h, Resize = ResizeKind.TorchBilinear, UnitRange = true,
        Mean = PreprocessFixtures.TorchvisionMean, Std = PreprocessFixtures.TorchvisionStd,
    };

    private static PreprocessSettings CaffeSettings(int w, int h) => new()
    {
        Width = w, Height = h, Resize = ResizeKind.OpenCvLinear, Bgr = true, Mean = [104f, 117f, 123f], Std = [1f, 1f, 1f],
    };

    [TestCaseSource(nameof(OpenCvCases))]
    public void OpenCvReferenceIsBitExactWithCv2(PreprocessFixtures.Case f)
    {
        var img = SyntheticImage.Create(f.SrcWidth, f.SrcHeight, f.Seed);
        var resized = PreprocessReference.ResizeOpenCv(img, f.SrcWidth, f.SrcHeight, f.DstWidth, f.DstHeight);
        Assert.That(resized, Has.Length.EqualTo(f.Count));
        for (int i = 0, j = 0; i < resized.Length; i += f.Stride, j++)
            if (resized[i] != f.Stored[j]) Assert.Fail($"{f}: byte {i} is {resized[i]}, cv2 gives {f.Stored[j]}");
        Assert.That(PreprocessFixtures.Sha256(resized), Is.EqualTo(f.Sha256), $"{f}: SHA-256 of the whole image");
    }

    [TestCaseSource(nameof(TorchCases))]
    public void TorchReferenceMatchesTorchvisionExactly(PreprocessFixtures.Case f)
    {
        var img = SyntheticImage.Create(f.SrcWidth, f.SrcHeight, f.Seed);
        var output = new float[3 * f.DstWidth * f.DstHeight];
        PreprocessReference.Forward(img, f.SrcWidth, f.SrcHeight, TorchSettings(f.DstWidth, f.DstHeight), output);
        var stored = f.StoredFloats();
        var sampled = new float[stored.Length];
        for (int j = 0; j < stored.Length; j++) sampled[j] = output[j * f.Stride];
        TestData.AssertClose(sampled, stored, 0f, 0f, f.ToString());
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(output.AsSpan());
        Assert.That(PreprocessFixtures.Sha256(bytes), Is.EqualTo(f.Sha256), $"{f}: SHA-256 of the whole tensor");
    }

    private static IEnumerable<TestCaseData> KernelCases()
    {
        // Small on the simulator, real sizes on PoCL; identity, up, down, odd and exact-half sizes.
        (int sw, int sh, int dw, int dh)[] small = [(37, 23, 17, 11), (13, 9, 40, 30), (16, 12, 8, 6), (5, 4, 5, 4), (1, 1, 3, 2)];
        (int sw, int sh, int dw, int dh)[] large = [(640, 480, 300, 300), (301, 299, 300, 300), (64, 48, 320, 240)];
        foreach (var kind in new[] { ResizeKind.OpenCvLinear, ResizeKind.TorchBilinear })
        {
            foreach (var s in small) yield return new TestCaseData(BackendKind.CpuSim, kind, s.sw, s.sh, s.dw, s.dh);
            foreach (var s in small.Concat(large)) yield return new TestCaseData(BackendKind.OpenCL, kind, s.sw, s.sh, s.dw, s.dh);
        }
    }

    [TestCaseSource(nameof(KernelCases))]
    public void KernelEqualsReference(BackendKind backend, ResizeKind kind, int sw, int sh, int dw, int dh)
    {
        var device = TestDevices.Get(backend);
        var settings = kind == ResizeKind.OpenCvLinear ? CaffeSettings(dw, dh) : TorchSettings(dw, dh);
        var img = SyntheticImage.Create(sw, sh, 11);
        var expected = new float[settings.OutputLength];
        PreprocessReference.Forward(img, sw, sh, settings, expected);

        using var pixels = device.Accelerator.Allocate1D(img);
        // Write into the second slot of a batch of two, as the engine does for image n of a batch.
        using var batch = device.Allocate(2 * settings.OutputLength);
        batch.MemSetToZero();
        using var op = new PreprocessOp(device);
        op.Forward(pixels.View, sw, sh, settings, batch.View.SubView(settings.OutputLength, settings.OutputLength));
        var actual = batch.GetAsArray1D();

        Assert.That(actual.AsSpan(0, (int)settings.OutputLength).ToArray(), Is.All.Zero, "first slot untouched");
        TestData.AssertClose(actual.AsSpan((int)settings.OutputLength).ToArray(), expected, 0f, 0f, $"{kind} {sw}x{sh}->{dw}x{dh} on {backend}");
    }

    [Test]
    public void OpenCvPathSubtractsMeanFromRoundedBgrPixels()
    {
        // A constant image resizes to itself; the output is (pixel - mean) per channel in BGR order.
        var img = new byte[3 * 5 * 4];
        for (int i = 0; i < img.Length; i += 3) { img[i] = 10; img[i + 1] = 20; img[i + 2] = 30; }
        var output = new float[3 * 7 * 3];
        PreprocessReference.Forward(img, 5, 4, CaffeSettings(7, 3), output);
        Assert.That(output[0], Is.EqualTo(30f - 104f));
        Assert.That(output[21], Is.EqualTo(20f - 117f));
        Assert.That(output[42], Is.EqualTo(10f - 123f));
    }

    [Test]
    public void BadArgumentsAreRejected()
    {
        var s = CaffeSettings(4, 4);
        Assert.Throws<ArgumentException>(() => PreprocessReference.Forward(new byte[10], 2, 2, s, new float[48]));
        Assert.Throws<ArgumentException>(() => PreprocessReference.Forward(new byte[12], 2, 2, s, new float[47]));
        Assert.Throws<ArgumentException>(() => PreprocessReference.Forward(new byte[0], 0, 0, s, new float[48]));
        Assert.Throws<ArgumentException>(() => PreprocessReference.Forward(new byte[12], 2, 2, s with { Std = [1f, 0f, 1f] }, new float[48]));
        Assert.Throws<ArgumentException>(() => PreprocessReference.Forward(new byte[12], 2, 2, s with { Width = 0 }, new float[0]));
    }
}

public class ExactFmaTests
{
    [Test]
    public void EqualsHardwareFusedMultiplyAdd()
    {
        var rng = new Random(5);
        for (int i = 0; i < 200_000; i++)
        {
            float a = (float)(rng.NextDouble() * 600 - 300), b = rng.NextSingle();
            // Half the cases make c nearly cancel a*b or sit far below it: where double rounding would show.
            float c = (i % 4) switch
            {
                0 => -a * b * (1f + (rng.NextSingle() - 0.5f) * 1e-6f),
                1 => a * b * 1e-9f * rng.NextSingle(),
                _ => (float)(rng.NextDouble() * 600 - 300),
            };
            float expected = MathF.FusedMultiplyAdd(a, b, c), actual = Ssd.Kernels.Preprocess.ExactFma.Fma(a, b, c);
            if (BitConverter.SingleToInt32Bits(expected) != BitConverter.SingleToInt32Bits(actual))
                Assert.Fail($"fma({a:R}, {b:R}, {c:R}) = {actual:R}, expected {expected:R}");
        }
    }
}

public class InputPreprocessingTests
{
    [Test]
    public void MapsTheModelInputSpec()
    {
        var spec = new Ssd.Weights.Model.InputSpec
        {
            Width = 300, Height = 200, ChannelOrder = Ssd.Weights.Model.ChannelOrder.Bgr, Mean = [104f, 117f, 123f], Std = [1f, 1f, 1f],
            PixelRange = Ssd.Weights.Model.PixelRange.Byte, Resize = Ssd.Weights.Model.ResizeMethod.OpenCvLinear,
        };
        var s = Ssd.Engine.Imaging.InputPreprocessing.FromSpec(spec);
        Assert.That((s.Width, s.Height, s.Resize, s.Bgr, s.UnitRange), Is.EqualTo((300, 200, ResizeKind.OpenCvLinear, true, false)));
        var t = Ssd.Engine.Imaging.InputPreprocessing.FromSpec(spec with
        {
            ChannelOrder = Ssd.Weights.Model.ChannelOrder.Rgb, PixelRange = Ssd.Weights.Model.PixelRange.Unit, Resize = Ssd.Weights.Model.ResizeMethod.TorchBilinear,
        });
        Assert.That((t.Resize, t.Bgr, t.UnitRange), Is.EqualTo((ResizeKind.TorchBilinear, false, true)));
        Assert.Throws<ArgumentException>(() => Ssd.Engine.Imaging.InputPreprocessing.FromSpec(spec with { Std = [1f, 0f, 1f] }));
    }
}
