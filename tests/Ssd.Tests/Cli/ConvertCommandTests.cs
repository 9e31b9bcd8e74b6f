using Ssd.Tests.Weights;
using Ssd.Weights.Model;

namespace Ssd.Tests.Cli;

/// <summary>
/// `ssd convert`'s input options: --mean, --scale, --std, --pixel-range and --channel-order reach the converted
/// model's description (MobileNet-SSD's blobFromImage settings; an ImageNet-normalised 0..1 RGB model), and bad
/// values are refused with a message naming the option and no file written.
/// </summary>
public class ConvertCommandTests
{
    private static (int Code, string Out, string Error) Run(params string[] args)
    {
        var (stdout, stderr) = (Console.Out, Console.Error);
        var (o, e) = (new StringWriter(), new StringWriter());
        Console.SetOut(o);
        Console.SetError(e);
        try { return (Ssd.Cli.Program.Main(args), o.ToString(), e.ToString()); }
        finally { Console.SetOut(stdout); Console.SetError(stderr); }
    }

    private static string TempPath(string extension) => Path.Combine(Path.GetTempPath(), $"ssd-convert-{Guid.NewGuid():N}{extension}");

    private static InputSpec Convert(params string[] options)
    {
        var prototxt = TempPath(".prototxt");
        var output = TempPath(".safetensors");
        File.WriteAllText(prototxt, CaffeConverterTests.TinyDeploy);
        try
        {
            var (code, stdout, stderr) = Run(["convert", Path.Combine(WeightsPaths.Fixtures, "caffe", "tiny.caffemodel"), "--prototxt", prototxt, .. options, "-o", output]);
            Assert.That(code, Is.EqualTo(0), stderr);
            Assert.That(stdout, Does.Contain(output));
            return ModelFile.Load(output).Description.Input;
        }
        finally
        {
            File.Delete(prototxt);
            File.Delete(output);
        }
    }

    [Test]
    public void MobileNetBlobFromImageSettings()
    {
        var input = Convert("--mean", "127.5", "--scale", "0.007843");
        Assert.That(input.Mean, Is.EqualTo(new[] { 127.5f, 127.5f, 127.5f }), "one value serves all channels");
        Assert.That((input.Scale, input.PixelRange, input.ChannelOrder), Is.EqualTo((0.007843f, PixelRange.Byte, ChannelOrder.Bgr)));
        Assert.That(input.Std, Is.EqualTo(new[] { 1f, 1f, 1f }));
    }

    [Test]
    public void ImageNetNormalisedRgb()
    {
        var input = Convert("--channel-order", "rgb", "--pixel-range", "0..1", "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225");
        Assert.That((input.ChannelOrder, input.PixelRange, input.Scale), Is.EqualTo((ChannelOrder.Rgb, PixelRange.Unit, 1f)));
        Assert.That(input.Mean, Is.EqualTo(new[] { 0.485f, 0.456f, 0.406f }));
        Assert.That(input.Std, Is.EqualTo(new[] { 0.229f, 0.224f, 0.225f }));
    }

    [Test]
    public void DefaultsAreUnchanged() =>
        Assert.That(Convert() is { Scale: 1f, PixelRange: PixelRange.Byte, Std: [1f, 1f, 1f] });

    [TestCase("--scale", "0", "--scale")]
    [TestCase("--scale", "nan", "--scale")]
    [TestCase("--scale", "1,2", "--scale")]
    [TestCase("--std", "1,0,1", "--std")]
    [TestCase("--std", "1,2", "--std")]
    [TestCase("--mean", "1,2", "--mean")]
    [TestCase("--mean", "1,inf,2", "--mean")]
    [TestCase("--pixel-range", "0..2", "--pixel-range")]
    public void BadValuesAreRefused(string option, string value, string named)
    {
        var prototxt = TempPath(".prototxt");
        var output = TempPath(".safetensors");
        File.WriteAllText(prototxt, CaffeConverterTests.TinyDeploy);
        try
        {
            var (code, _, stderr) = Run("convert", Path.Combine(WeightsPaths.Fixtures, "caffe", "tiny.caffemodel"), "--prototxt", prototxt, option, value, "-o", output);
            Assert.That(code, Is.Not.EqualTo(0));
            Assert.That(stderr, Does.Contain(named));
            Assert.That(File.Exists(output), Is.False, "no file written");
        }
        finally
        {
            File.Delete(prototxt);
            File.Delete(output);
        }
    }
}
