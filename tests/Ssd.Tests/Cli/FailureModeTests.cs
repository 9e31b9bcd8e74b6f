using System.Buffers.Binary;
using Ssd.Cli;
using Ssd.Engine.Detection;
using Ssd.Kernels.Core;
using Ssd.Tests.Imaging;
using Ssd.Tests.Weights;
using static Ssd.Tests.Cli.CliRunner;

namespace Ssd.Tests.Cli;

/// <summary>
/// Issue 13's list of CLI failure modes, each checked for all four things a script relies on: the message, the exit
/// code, no stack trace or .NET type name (on stderr or stdout), and no output file (--json and --annotate are asked
/// for every time, into a folder of their own). A good run into the same kind of folder shows the check can fail.
/// </summary>
public class FailureModeTests
{
    private static readonly string[] NoTrace = ["   at ", "Exception", "Unhandled", "System."];

    private static void AssertFailsCleanly(string[] args, int code, string message, params string[] moreMessages) =>
        AssertFailsCleanly(args, code, [message, .. moreMessages], []);

    private static void AssertFailsCleanly(string[] args, int code, string[] messages, string[] stdout)
    {
        using var outputs = Temp();
        var r = Run([.. args, "--json", outputs["d.json"], "--annotate", outputs["ann"]]);
        Assert.That(r.Code, Is.EqualTo(code), r.ToString());
        r.AssertCleanErrors();
        foreach (var m in messages) Assert.That(r.Err, Does.Contain(m), r.ToString());
        foreach (var m in stdout) Assert.That(r.Out, Does.Contain(m), r.ToString());
        foreach (var t in NoTrace) Assert.That(r.Out, Does.Not.Contain(t), r.ToString());
        Assert.That(outputs.Files(), Is.Empty, $"no output file\n{r}");
        Assert.That(Directory.Exists(outputs["ann"]), Is.False, $"no --annotate folder left behind\n{r}");
    }

    [Test]
    public void AGoodRunWritesTheOutputsTheChecksLookFor()
    {
        using var outputs = Temp();
        var r = Run("detect", "--model", ShapesModel, Example("shapes_002.jpg"), "--json", outputs["d.json"], "--annotate", outputs["ann"]);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.Ok), r.ToString());
        Assert.That(r.Err, Is.Empty);
        Assert.That(outputs.Files(), Is.EqualTo(new[] { "ann/shapes_002.png", "d.json" }));
    }

    [Test]
    public void ExitCodesAreZeroOneTwoThree() =>
        Assert.That(new[] { ExitCodes.Ok, ExitCodes.InputsFailed, ExitCodes.Usage, ExitCodes.ModelOrDevice }, Is.EqualTo(new[] { 0, 1, 2, 3 }));

    [Test]
    public void CudaWithoutAGpu()
    {
        if (ComputeDevice.HasCuda()) Assert.Ignore("a CUDA device is present");
        AssertFailsCleanly(["detect", "--model", ShapesModel, Example("shapes_001.jpg"), "--backend", "cuda"], ExitCodes.ModelOrDevice,
            "on the cuda backend: backend 'cuda' requested but no CUDA device was found");
    }

    /// <summary>`ssd devices --backend cpu` printed a stack trace: now it describes the backend, exit 0, stderr empty.</summary>
    [Test]
    public void DevicesBackendCpu()
    {
        var r = Run("devices", "--backend", "cpu");
        Assert.That(r.Code, Is.EqualTo(ExitCodes.Ok), r.ToString());
        Assert.That(r.Err, Is.Empty, r.ToString());
        using var backend = BackendFactory.Create(DetectorBackend.Cpu);
        Assert.That(r.Out, Does.StartWith($"cpu: {backend.Description}"));
        foreach (var t in NoTrace) Assert.That(r.Out, Does.Not.Contain(t), r.ToString());
    }

    [Test]
    public void ThresholdThatIsNotANumber() =>
        AssertFailsCleanly(["detect", "--model", ShapesModel, Example("shapes_001.jpg"), "--threshold", "abc"], ExitCodes.Usage,
            "error: --threshold: 'abc' is not a number");

    [Test]
    public void ACheckpointGivenAsTheModel()
    {
        var pth = Example(Path.Combine("torchvision", "shapes_ssd.pth"));
        AssertFailsCleanly(["detect", "--model", pth, Example("shapes_001.jpg")], ExitCodes.ModelOrDevice,
            $"{pth} is a PyTorch checkpoint, not an Ssd model file: convert it first: ssd convert shapes_ssd.pth -o model.safetensors");
    }

    /// <summary>A --json path that cannot be written is a usage error found before the model is read (even a corrupt one).</summary>
    [Test]
    public void AJsonPathThatCannotBeWritten()
    {
        using var dir = Temp();
        File.WriteAllText(dir["file"], "x");
        File.WriteAllBytes(dir["bad.safetensors"], new byte[64]);
        var r = Run("detect", "--model", dir["bad.safetensors"], Example("shapes_001.jpg"), "--json", dir["file/d.json"]);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.Usage), r.ToString());
        r.AssertCleanErrors();
        Assert.That(r.Err, Does.Contain($"--json {dir["file/d.json"]}").And.Contain("cannot write there"));
        Assert.That(r.Out, Is.Empty, "refused before any work");
        Assert.That(dir.Files(), Is.EqualTo(new[] { "bad.safetensors", "file" }), "no output file");
        Assert.That(File.ReadAllText(dir["file"]), Is.EqualTo("x"));
    }

    /// <summary>
    /// Decompression bombs: a PNG and a JPEG whose headers claim 40000 x 40000 and 65000 x 65000 pixels (a few KB
    /// each) are refused from the header under the default budget, each named, exit 1, no output; run as its own
    /// process, its peak memory stays far below the 4.8 GB of RGB the smaller claim would take.
    /// </summary>
    [Test]
    public void DecompressionBombsAreRefusedFromTheHeader()
    {
        using var inputs = Temp();
        var png = ImageDecoderTests.PngWithSize(File.ReadAllBytes(Path.Combine(WeightsPaths.Fixtures, "images", "decode", "png_rgb.png")), 40000, 40000);
        File.WriteAllBytes(inputs["bomb.png"], png);
        File.WriteAllBytes(inputs["bomb.jpg"], JpegWithSize(File.ReadAllBytes(Example("shapes_001.jpg")), 65000, 65000));
        string[] args = ["detect", "--model", ShapesModel, inputs["bomb.png"], inputs["bomb.jpg"]];
        AssertFailsCleanly(args, ExitCodes.InputsFailed,
            [$"error: {inputs["bomb.png"]}: the image is 40000x40000 = 1,600,000,000 pixels, over the 134,217,728-pixel budget per image",
             $"error: {inputs["bomb.jpg"]}: the image is 65000x65000 = 4,225,000,000 pixels", "refused before decoding (--max-pixels raises it)"],
            ["0 of 2 inputs done, 0 detections, 2 failed"]);

        using var outputs = Temp();
        var (r, peak) = RunProcess([.. args, "--json", outputs["d.json"]]);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.InputsFailed), r.ToString());
        TestContext.Out.WriteLine($"peak resident memory refusing the bombs: {peak >> 20} MiB");
        Assert.That(peak, Is.LessThan(1L << 30), "the claimed pixels were never allocated");
        Assert.That(outputs.Files(), Is.Empty);
    }

    /// <summary>The JPEG with the size in its (first) start-of-frame segment replaced.</summary>
    private static byte[] JpegWithSize(byte[] jpeg, ushort width, ushort height)
    {
        jpeg = (byte[])jpeg.Clone();
        for (int i = 2; i + 9 < jpeg.Length;)
        {
            if (jpeg[i] != 0xFF) throw new InvalidDataException("not a JPEG segment");
            byte marker = jpeg[i + 1];
            int length = BinaryPrimitives.ReadUInt16BigEndian(jpeg.AsSpan(i + 2));
            if (marker is 0xC0 or 0xC1 or 0xC2)
            {
                BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(i + 5), height);
                BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(i + 7), width);
                return jpeg;
            }
            i += 2 + length;
        }
        throw new InvalidDataException("no start-of-frame segment");
    }
}
