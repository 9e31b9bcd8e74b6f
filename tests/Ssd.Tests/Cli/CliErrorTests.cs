using Ssd.Cli;
using Ssd.Engine.Detection;
using Ssd.Kernels.Core;
using Ssd.Tests.Weights;
using Ssd.Weights.Model;
using Ssd.Weights.SafeTensors;
using static Ssd.Tests.Cli.CliRunner;

namespace Ssd.Tests.Cli;

/// <summary>
/// Every failure a user can cause, across the commands (issue 13's CLI list, issue 16 item 4): one line naming the
/// file and the problem, the documented exit code, no stack trace (only with --verbose), no output file.
/// </summary>
public class CliErrorTests
{
    private static void AssertFails(CliRunner.Result r, int code, string message)
    {
        Assert.That(r.Code, Is.EqualTo(code), r.ToString());
        r.AssertCleanErrors();
        Assert.That(r.Err, Does.Contain(message), r.ToString());
    }

    [TestCase("abc", "--threshold: 'abc' is not a number")]
    [TestCase("2", "--threshold: 2 is outside [0, 1]")]
    [TestCase("-1", "--threshold: -1 is outside [0, 1]")]
    [TestCase("NaN", "--threshold: 'NaN' is not a number")]
    public void BadThresholdsAreUsageErrors(string value, string message) =>
        AssertFails(Run("detect", "--model", ShapesModel, Example("shapes_001.jpg"), "--threshold", value), ExitCodes.Usage, message);

    [Test]
    public void BadOptionValuesNameTheOptionNotADotnetType()
    {
        AssertFails(Run("detect", "--model", ShapesModel, Example("shapes_001.jpg"), "--batch", "many"), ExitCodes.Usage, "--batch: 'many' is not a whole number");
        AssertFails(Run("detect", "--model", ShapesModel, Example("shapes_001.jpg"), "--batch", "0"), ExitCodes.Usage, "--batch: 0 is less than 1");
        AssertFails(Run("detect", "--model", ShapesModel, Example("shapes_001.jpg"), "--input-size", "big"), ExitCodes.Usage, "--input-size: input size must be WxH");
        AssertFails(Run("detect", "--model", ShapesModel, Example("shapes_001.jpg"), "--max-pixels", "-5"), ExitCodes.Usage, "--max-pixels: '-5' is not a whole number");
        AssertFails(Run("detect", Example("shapes_001.jpg")), ExitCodes.Usage, "--model");
        AssertFails(Run("frobnicate"), ExitCodes.Usage, "frobnicate");
        AssertFails(Run(), ExitCodes.Usage, "error: ");
        AssertFails(Run("convert", "x.pth", "-o", "y.safetensors", "--mean", "1,b,3"), ExitCodes.Usage, "--mean: 'b' is not a number");
        AssertFails(Run("convert", "x.pth", "-o", "y.safetensors", "--flavor", "keras"), ExitCodes.Usage, "keras");
        AssertFails(Run("bench", "--model", ShapesModel, "--peak", "0", "--layers"), ExitCodes.Usage, "--peak: '0' is not a positive GFLOP/s figure");
    }

    [Test]
    public void UnknownBackendsAreUsageErrorsInEveryCommand()
    {
        AssertFails(Run("detect", "--model", ShapesModel, Example("shapes_001.jpg"), "--backend", "tpu"), ExitCodes.Usage, "--backend: unknown backend 'tpu': expected auto, cuda, opencl, cpu-sim or cpu");
        AssertFails(Run("devices", "--backend", "tpu"), ExitCodes.Usage, "--backend: unknown backend 'tpu'");
        AssertFails(Run("bench", "--model", ShapesModel, "--backend", "tpu"), ExitCodes.Usage, "--backend: unknown backend 'tpu'");
    }

    [Test]
    public void CudaWithoutAGpuIsADeviceError()
    {
        if (ComputeDevice.HasCuda()) Assert.Ignore("a CUDA device is present");
        using var dir = Temp();
        var r = Run("detect", "--model", ShapesModel, Example("shapes_001.jpg"), "--backend", "cuda", "--json", dir["d.json"]);
        AssertFails(r, ExitCodes.ModelOrDevice, "on the cuda backend: backend 'cuda' requested but no CUDA device was found");
        Assert.That(dir.Files(), Is.Empty, "no output");
        AssertFails(Run("devices", "--backend", "cuda"), ExitCodes.ModelOrDevice, "backend cuda: ");
        AssertFails(Run("bench", "--model", ShapesModel, "--backend", "cuda", "--iterations", "1"), ExitCodes.ModelOrDevice, "cuda");
    }

    /// <summary>`ssd devices` builds each backend as detect does: auto names the backend detect uses.</summary>
    [Test]
    public void DevicesTellsWhatEachChoiceRunsOn()
    {
        var cpu = Run("devices", "--backend", "cpu");
        Assert.That(cpu.Code, Is.EqualTo(ExitCodes.Ok), cpu.ToString());
        using (var backend = BackendFactory.Create(DetectorBackend.Cpu)) Assert.That(cpu.Out, Does.StartWith($"cpu: {backend.Description}"));
        var auto = Run("devices", "--backend", "auto");
        using (var backend = BackendFactory.Create(DetectorBackend.Auto))
            Assert.That(auto.Out, Does.StartWith($"auto: {backend.Description}").And.Contain("what ssd detect uses"));
        var all = Run("devices");
        Assert.That(all.Code, Is.EqualTo(ExitCodes.Ok), all.ToString());
        Assert.That(all.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]), Is.EqualTo(new[] { "auto", "cuda", "opencl", "cpu-sim", "cpu" }));
    }

    [Test]
    public void CheckpointsGivenAsAModelSayConvertItFirst()
    {
        using var dir = Temp();
        var pth = Example(Path.Combine("torchvision", "shapes_ssd.pth"));
        AssertFails(Run("detect", "--model", pth, Example("shapes_001.jpg")), ExitCodes.ModelOrDevice,
            $"{pth} is a PyTorch checkpoint, not an Ssd model file: convert it first: ssd convert shapes_ssd.pth -o model.safetensors");
        AssertFails(Run("inspect", Path.Combine(TorchFixtures.Dir, "ssd_pytorch_like.legacy.pth")), ExitCodes.ModelOrDevice, "is a PyTorch checkpoint");
        var face = WeightsPaths.FaceModelDir;
        AssertFails(Run("inspect", Path.Combine(face, "model.caffemodel")), ExitCodes.ModelOrDevice, "is a Caffe checkpoint, not an Ssd model file: convert it first");
        AssertFails(Run("bench", "--model", Path.Combine(face, "deploy.prototxt")), ExitCodes.ModelOrDevice, "is a Caffe network description");
        File.WriteAllBytes(dir["junk.safetensors"], [1, 2, 3]);
        AssertFails(Run("inspect", dir["junk.safetensors"]), ExitCodes.ModelOrDevice, "is not an Ssd model file");
        AssertFails(Run("inspect", dir["none.safetensors"]), ExitCodes.ModelOrDevice, "none.safetensors: no such model file");
        AssertFails(Run("inspect", dir.Path), ExitCodes.ModelOrDevice, $"{dir.Path}: is a folder, not a model file");
        AssertFails(Run("detect", "--model", dir.Path, Example("shapes_001.jpg")), ExitCodes.ModelOrDevice, "is a folder, not a model file");
    }

    /// <summary>issue 16 item 4: a null in a required field of the model description is a message, not a NullReferenceException.</summary>
    [TestCase("\"input\":")]
    [TestCase("\"layers\":")]
    [TestCase("\"postProcess\":")]
    [TestCase("\"priors\":")]
    public void ANullInTheModelDescriptionIsAModelError(string field)
    {
        using var dir = Temp();
        var file = SafeTensorsFile.Read(ShapesModel);
        var json = file.Metadata[ModelFile.DescriptionKey];
        int at = json.IndexOf(field, StringComparison.Ordinal);
        if (at < 0) Assert.Fail($"the description has no {field} field: {json[..200]}");
        // Replace the field's value (an object or array) by null.
        int start = at + field.Length;
        while (char.IsWhiteSpace(json[start])) start++;
        int end = MatchingClose(json, start);
        var broken = json[..start] + "null" + json[(end + 1)..];
        SafeTensorsFile.Write(dir["null.safetensors"], file.Tensors.Values, new Dictionary<string, string> { [ModelFile.DescriptionKey] = broken });
        AssertFails(Run("inspect", dir["null.safetensors"]), ExitCodes.ModelOrDevice, "null.safetensors");
        AssertFails(Run("detect", "--model", dir["null.safetensors"], Example("shapes_001.jpg"), "--json", dir["d.json"]), ExitCodes.ModelOrDevice, "null.safetensors");
        Assert.That(File.Exists(dir["d.json"]), Is.False);
    }

    /// <summary>issue 16 item 4: a refused pickle in `convert` is a one-line model error, and no output file appears.</summary>
    [TestCase("global_os_system.zip.pth")]
    [TestCase("reduce_subprocess.legacy.pth")]
    public void ConvertRefusesAMaliciousCheckpointWithAMessage(string file)
    {
        using var dir = Temp();
        var path = Path.Combine(TorchFixtures.Dir, "malicious", file);
        AssertFails(Run("convert", path, "-o", dir["out.safetensors"]), ExitCodes.ModelOrDevice, $"cannot convert {path}: ");
        Assert.That(dir.Files(), Is.Empty);
    }

    [Test]
    public void ConvertChecksItsPathsBeforeReadingTheCheckpoint()
    {
        using var dir = Temp();
        var face = WeightsPaths.FaceModelDir;
        var model = Path.Combine(face, "model.caffemodel");
        AssertFails(Run("convert", dir["none.pth"], "-o", dir["o.safetensors"]), ExitCodes.ModelOrDevice, "none.pth: no such checkpoint file");
        AssertFails(Run("convert", dir.Path, "-o", dir["o.safetensors"]), ExitCodes.ModelOrDevice, "is a folder, not a checkpoint file");
        AssertFails(Run("convert", model, "--prototxt", dir["none.prototxt"], "-o", dir["o.safetensors"]), ExitCodes.ModelOrDevice, "no such prototxt file");
        AssertFails(Run("convert", model, "--prototxt", Path.Combine(face, "deploy.prototxt"), "-o", model), ExitCodes.Usage, "refusing to overwrite it");
        AssertFails(Run("convert", model, "-o", dir["o.safetensors"]), ExitCodes.Usage, "a .caffemodel needs its deploy file: --prototxt deploy.prototxt");
        AssertFails(Run("convert", model, "--prototxt", Path.Combine(face, "deploy.prototxt"), "--classes-file", dir["none.txt"], "-o", dir["o.safetensors"]),
            ExitCodes.Usage, "--classes-file");
        Assert.That(dir.Files(), Is.Empty);
    }

    [Test]
    public void PtxOnAReadOnlyLocationIsRefusedBeforeCompiling()
    {
        const string target = "/sys/ssd-ptx-test";
        if (!OperatingSystem.IsLinux() || !Directory.Exists("/sys")) Assert.Ignore("needs Linux's read-only /sys");
        var r = Run("ptx", "--out", target);
        AssertFails(r, ExitCodes.Usage, $"--out {target}: cannot write there");
        Assert.That(r.Out, Is.Empty, "nothing compiled");
        using var dir = Temp();
        File.WriteAllText(dir["file"], "x");
        AssertFails(Run("ptx", "--out", dir["file"]), ExitCodes.Usage, "is a file; give a folder");
    }

    [Test]
    public void BenchOnABrokenImageNamesIt()
    {
        using var dir = Temp();
        File.WriteAllBytes(dir["cut.jpg"], File.ReadAllBytes(Example("shapes_002.jpg"))[..200]);
        AssertFails(Run("bench", "--model", ShapesModel, "--image", dir["cut.jpg"]), ExitCodes.InputsFailed, "cut.jpg: truncated image");
    }

    [Test]
    public void VerbosePrintsTheStackTraceAndOnlyThen()
    {
        var quiet = Run("inspect", Example(Path.Combine("torchvision", "shapes_ssd.pth")));
        var verbose = Run("inspect", Example(Path.Combine("torchvision", "shapes_ssd.pth")), "--verbose");
        Assert.That(quiet.Code, Is.EqualTo(verbose.Code));
        quiet.AssertCleanErrors();
        Assert.That(verbose.Err, Does.StartWith(quiet.Err.TrimEnd()).And.Contain("   at "));
    }

    private static int MatchingClose(string s, int open)
    {
        int depth = 0;
        for (int i = open; i < s.Length; i++)
        {
            if (s[i] is '{' or '[') depth++;
            else if (s[i] is '}' or ']' && --depth == 0) return i;
        }
        throw new ArgumentException("unbalanced JSON");
    }
}
