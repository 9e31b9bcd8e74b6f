using System.Text.Json;
using ILGPU;
using ILGPU.Runtime;
using Ssd.Engine.Imaging;
using Ssd.Kernels.Core;
using Ssd.Kernels.Preprocess;
using Ssd.Weights.Model;
using static Ssd.Tests.Acceptance.PeerFixtures;
using static Ssd.Tests.Engine.NetworkFixtures;

namespace Ssd.Tests.Kernels.Preprocess;

/// <summary>
/// The input options a real model needs (`ssd convert --scale --std --pixel-range`): the reference's
/// (x - mean) * scale / std by hand, the kernels bit for bit the reference with every option set, and the photo
/// pre-processed as an ImageNet-normalised 0..1 RGB model's own numpy pipeline does it
/// (tools/fixtures/make_caffe_backbones.py), on the host and on PoCL. (MobileNet-SSD's blobFromImage scale factor is
/// checked bit for bit against OpenCV by CaffeBackboneAcceptanceTests.)
/// </summary>
public class PreprocessOptionsTests
{
    [Test]
    public void ScaleMultipliesAfterTheMeanAndBeforeTheStd()
    {
        // A constant image resizes to itself: each output is ((pixel [/ 255]) - mean) * scale / std, in float.
        var img = new byte[3 * 4 * 3];
        for (int i = 0; i < img.Length; i += 3) (img[i], img[i + 1], img[i + 2]) = (10, 200, 255);
        var output = new float[3 * 4 * 3];
        var blob = new PreprocessSettings { Width = 4, Height = 3, Resize = ResizeKind.OpenCvLinear, Mean = [127.5f, 127.5f, 127.5f], Scale = 0.007843f };
        PreprocessReference.Forward(img, 4, 3, blob, output);
        Assert.That(new[] { output[0], output[12], output[24] }, Is.EqualTo(new[] { (10f - 127.5f) * 0.007843f, (200f - 127.5f) * 0.007843f, (255f - 127.5f) * 0.007843f }));
        var unit = blob with { Bgr = true, UnitRange = true, Mean = [0.1f, 0.2f, 0.3f], Std = [0.5f, 0.25f, 2f], Scale = 3f };
        PreprocessReference.Forward(img, 4, 3, unit, output);
        Assert.That(new[] { output[0], output[12], output[24] },
            Is.EqualTo(new[] { (255f / 255f - 0.1f) * 3f / 0.5f, (200f / 255f - 0.2f) * 3f / 0.25f, (10f / 255f - 0.3f) * 3f / 2f }));
        Assert.Throws<ArgumentException>(() => (blob with { Scale = 0f }).Validate());
        Assert.Throws<ArgumentException>(() => (blob with { Scale = float.NaN }).Validate());
    }

    [Test]
    public void InputSpecScaleReachesTheSettings()
    {
        var spec = new InputSpec
        {
            Width = 300, Height = 300, ChannelOrder = ChannelOrder.Bgr, Mean = [127.5f, 127.5f, 127.5f], Std = [1f, 1f, 1f], Scale = 0.007843f,
            PixelRange = PixelRange.Unit, Resize = ResizeMethod.OpenCvLinear,
        };
        var s = InputPreprocessing.FromSpec(spec);
        Assert.That((s.Scale, s.UnitRange), Is.EqualTo((0.007843f, true)));
    }

    private static IEnumerable<TestCaseData> KernelCases() =>
        from backend in new[] { BackendKind.CpuSim, BackendKind.OpenCL }
        from kind in new[] { ResizeKind.OpenCvLinear, ResizeKind.TorchBilinear }
        from unit in new[] { false, true }
        select new TestCaseData(backend, kind, unit);

    [TestCaseSource(nameof(KernelCases))]
    public void KernelsAreTheReferenceWithEveryOption(BackendKind backend, ResizeKind kind, bool unit)
    {
        var device = TestDevices.Get(backend);
        var (sw, sh, dw, dh) = backend == BackendKind.CpuSim ? (37, 23, 17, 11) : (640, 480, 300, 300);
        var settings = new PreprocessSettings
        {
            Width = dw, Height = dh, Resize = kind, Bgr = !unit, UnitRange = unit, Scale = unit ? 1.7f : 0.007843f,
            Mean = unit ? [0.485f, 0.456f, 0.406f] : [127.5f, 120f, 110f], Std = unit ? [0.229f, 0.224f, 0.225f] : [1f, 2f, 0.5f],
        };
        var img = SyntheticImage.Create(sw, sh, 5);
        var expected = new float[settings.OutputLength];
        PreprocessReference.Forward(img, sw, sh, settings, expected);
        using var pixels = device.Accelerator.Allocate1D(img);
        using var output = device.Allocate(settings.OutputLength);
        using var op = new PreprocessOp(device);
        op.Forward(pixels.View, sw, sh, settings, output.View);
        TestData.AssertClose(output.GetAsArray1D(), expected, 0f, 0f, $"{kind} unit {unit} on {backend}");
    }

    [TestCase("host")]
    [TestCase("opencl")]
    public void ImageNetNormalisedRgbIsNumpysBitForBit(string where)
    {
        const string script = "make_caffe_backbones.py";
        var manifest = JsonDocument.Parse(File.ReadAllText(Generated("imagenet_input", "manifest.json", script))).RootElement;
        var expected = ReadFloats(Generated("imagenet_input", "input.bin", script));
        int w = manifest.GetProperty("image")[0].GetInt32(), h = manifest.GetProperty("image")[1].GetInt32();
        var photo = FromBgr(Generated("imagenet_input", "photo_bgr.bin", script), w, h);
        // What `ssd convert --channel-order rgb --pixel-range 0..1 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225` records.
        var settings = InputPreprocessing.FromSpec(new InputSpec
        {
            Width = 300, Height = 300, ChannelOrder = ChannelOrder.Rgb, PixelRange = PixelRange.Unit, Resize = ResizeMethod.OpenCvLinear,
            Mean = [0.485f, 0.456f, 0.406f], Std = [0.229f, 0.224f, 0.225f],
        });
        var actual = new float[settings.OutputLength];
        if (where == "host") PreprocessReference.Forward(photo.Pixels, w, h, settings, actual);
        else
        {
            var device = TestDevices.OpenCL;
            using var pixels = device.Accelerator.Allocate1D(photo.Pixels);
            using var output = device.Allocate(settings.OutputLength);
            using var op = new PreprocessOp(device);
            op.Forward(pixels.View, w, h, settings, output.View);
            actual = output.GetAsArray1D();
        }
        TestData.AssertClose(actual, expected, 0f, 0f, $"ImageNet-normalised RGB on {where}");
    }
}
