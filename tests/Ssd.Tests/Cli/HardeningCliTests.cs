using System.Text.Json;
using Ssd.Cli;
using Ssd.Engine.Imaging;
using Ssd.Imaging;
using Ssd.Tests.Weights;
using static Ssd.Tests.Cli.CliRunner;

namespace Ssd.Tests.Cli;

/// <summary>
/// Issue 16 cases whose library side is tested elsewhere, through the CLI as the issue found them: an image too
/// small for the network under `--input-size native` (item 7) fails alone, named; `/dev/zero` given to `convert`
/// and `inspect` (item 4) is a one-line error with the model exit code and no output.
/// </summary>
[NonParallelizable]
public class HardeningCliTests
{
    private TempDir? dir;
    private string face = "";

    [OneTimeSetUp]
    public void ConvertTheFaceModel()
    {
        // The face detector runs at any input size (the shapes model, torchvision's layout, refuses native).
        dir = Temp();
        face = dir["face.safetensors"];
        var r = Run("convert", Path.Combine(WeightsPaths.FaceModelDir, "model.caffemodel"), "--prototxt", Path.Combine(WeightsPaths.FaceModelDir, "deploy.prototxt"), "-o", face);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.Ok), r.ToString());
    }

    [OneTimeTearDown]
    public void Cleanup() => dir?.Dispose();

    [Test]
    public void NativeInputSizeAnImageTooSmallForTheNetworkFailsAloneAndIsNamed()
    {
        using var work = Temp();
        Directory.CreateDirectory(work["in"]);
        File.WriteAllBytes(work["in/tiny.png"], ImageEncoder.EncodePng(new RgbImage(4, 4)));
        File.Copy(Path.Combine(WeightsPaths.Shared, "images", "keliamoniz1.jpg"), work["in/photo.jpg"]);
        var r = Run("detect", "--model", face, work["in"], "--input-size", "native", "--backend", "cpu", "--json", work["d.json"]);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.InputsFailed), r.ToString());
        r.AssertCleanErrors();
        var errors = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("error: ")).ToList();
        Assert.That(errors, Has.Count.EqualTo(1), r.ToString());
        Assert.That(errors[0], Does.Contain("tiny.png").And.Contain("4x4"));
        var doc = JsonDocument.Parse(File.ReadAllText(work["d.json"])).RootElement;
        Assert.That(doc.GetProperty("images").EnumerateArray().Select(i => Path.GetFileName(i.GetProperty("path").GetString())), Is.EqualTo(new[] { "photo.jpg" }));
        Assert.That(doc.GetProperty("images")[0].GetProperty("detections").GetArrayLength(), Is.GreaterThan(0), "the photo's face");
        Assert.That(doc.GetProperty("errors").GetArrayLength(), Is.EqualTo(1));
    }

    [TestCase("convert")]
    [TestCase("inspect")]
    public void ADeviceAsTheModelIsAOneLineModelError(string command)
    {
        if (!File.Exists("/dev/zero")) Assert.Ignore("no /dev/zero");
        using var work = Temp();
        var r = command == "convert" ? Run("convert", "/dev/zero", "-o", work["o.safetensors"]) : Run("inspect", "/dev/zero");
        Assert.That(r.Code, Is.EqualTo(ExitCodes.ModelOrDevice), r.ToString());
        r.AssertCleanErrors();
        Assert.That(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(1), r.ToString());
        Assert.That(r.Err, Does.Contain("/dev/zero"));
        Assert.That(work.Files(), Is.Empty, "no output, no temporary");
    }
}
