using Ssd.Engine.Detection;
using Ssd.Engine.Imaging;
using Ssd.Weights.Model;
using Ssd.Weights.Torch;
using static Ssd.Tests.Engine.NetworkFixtures;

namespace Ssd.Tests.Detection;

/// <summary>The detector's input size option: parsing, and refusal for models whose input size is fixed.</summary>
public class InputSizeTests
{
    [TestCase("640x480", 640, 480)]
    [TestCase(" 300X300 ", 300, 300)]
    [TestCase("512", 512, 512)]
    public void ParsesSizes(string text, int width, int height) =>
        Assert.That(InputSize.Parse(text), Is.EqualTo(new InputSize(width, height)));

    [Test]
    public void ParsesNative()
    {
        Assert.That(InputSize.Parse("Native").IsNative);
        Assert.That(InputSize.Native.ToString(), Is.EqualTo("native"));
    }

    [TestCase("0x10")]
    [TestCase("10x")]
    [TestCase("-3x4")]
    [TestCase("3x4x5")]
    [TestCase("big")]
    public void RejectsBadSizes(string text)
    {
        var e = Assert.Throws<ArgumentException>(() => InputSize.Parse(text));
        Assert.That(e!.Message, Does.Contain(text));
    }

    private static ConversionResult Torchvision() => TorchConverter.Convert(TorchCheckpoint.Load(Network("torchvision/model.pth")));

    [Test]
    public void TorchvisionModelRefusesAnotherSizeOrNative()
    {
        var model = Torchvision();
        foreach (var size in new[] { new InputSize(640, 480), InputSize.Native })
        {
            var e = Assert.Throws<NotSupportedException>(() => SsdDetector.Create(model.Description, model.Tensors,
                new SsdDetectorOptions { InputSize = size, Backend = DetectorBackend.Cpu }));
            Assert.That(e!.Message, Does.Contain("Torchvision").And.Contain("300x300").And.Contain("fully convolutional"));
        }
    }

    [Test]
    public void TorchvisionModelAcceptsItsOwnSize()
    {
        var model = Torchvision();
        using var detector = SsdDetector.Create(model.Description, model.Tensors,
            new SsdDetectorOptions { InputSize = new InputSize(300, 300), Backend = DetectorBackend.Cpu });
        Assert.That(detector.Model.Input.Width, Is.EqualTo(300));
    }
}
