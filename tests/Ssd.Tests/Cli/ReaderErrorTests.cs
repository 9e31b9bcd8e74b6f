using Ssd.Fuzz;
using Ssd.Tests.Weights;
using Ssd.Weights.Model;
using Ssd.Weights.SafeTensors;

namespace Ssd.Tests.Cli;

/// <summary>
/// Issue 16 item 4 (the readers' side): `convert` and `inspect` turn every reader error -- a refused pickle, a
/// budget, a malformed file, a null in the description -- into one line on stderr and a non-zero exit code, with
/// no stack trace and no file written. (The exit-code scheme itself belongs to the CLI's one error path.)
/// </summary>
[NonParallelizable]
public class ReaderErrorTests
{
    private string dir = "";

    [SetUp]
    public void MakeFolder() => dir = Directory.CreateTempSubdirectory("ssd-reader-errors-").FullName;

    [TearDown]
    public void RemoveFolder() => Directory.Delete(dir, recursive: true);

    private static (int Code, string Out, string Error) Ssd(params string[] args)
    {
        var (stdout, stderr) = (Console.Out, Console.Error);
        var (o, e) = (new StringWriter(), new StringWriter());
        Console.SetOut(o);
        Console.SetError(e);
        try { return (global::Ssd.Cli.Program.Main(args), o.ToString(), e.ToString()); }
        finally
        {
            Console.SetOut(stdout);
            Console.SetError(stderr);
        }
    }

    private static void AssertOneLineError((int Code, string Out, string Error) r, params string[] parts)
    {
        Assert.That(r.Code, Is.Not.EqualTo(0), r.Out + r.Error);
        var lines = r.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), r.Error);
        Assert.That(lines[0], Does.StartWith("error: ").And.Not.Contain(" at Ssd."));
        foreach (var p in parts) Assert.That(lines[0], Does.Contain(p));
    }

    private void AssertNothingWritten() =>
        Assert.That(Directory.GetFileSystemEntries(dir).Where(f => !f.EndsWith(".pth") && !f.EndsWith(".in.safetensors")), Is.Empty, "no output, no temporary file");

    [Test]
    public void ConvertRefusesAMaliciousPickleInOneLine()
    {
        File.Delete("/tmp/ssd_pwned_global_os_system");
        var r = Ssd("convert", TorchFixtures.PathOf("malicious/global_os_system.zip.pth"), "-o", Path.Combine(dir, "out.safetensors"));
        AssertOneLineError(r, "global_os_system.zip.pth: refused pickle: global 'os.system'", "nothing was executed");
        Assert.That(File.Exists("/tmp/ssd_pwned_global_os_system"), Is.False);
        AssertNothingWritten();
    }

    [TestCase("dict-flood", "'pickle.memory'")]
    [TestCase("overflowing-storage", "larger than one tensor can be")]
    [TestCase("duplicate-entries", "appears twice")]
    public void ConvertRefusesBombsWithoutWritingAFile(string bomb, string message)
    {
        var input = Path.Combine(dir, $"{bomb}.pth");
        File.WriteAllBytes(input, global::Ssd.Fuzz.Program.BombFiles[bomb].Make());
        var r = Ssd("convert", input, "-o", Path.Combine(dir, "out.safetensors"));
        AssertOneLineError(r, $"{bomb}.pth", message);
        AssertNothingWritten();
    }

    [Test]
    public void ConvertLenientWarnsAndInspectShowsWhatWasIgnored()
    {
        var face = WeightsPaths.FaceModelDir;
        var text = File.ReadAllText(Path.Combine(face, "deploy.prototxt"));
        int at = text.IndexOf("order", text.IndexOf("permute_param", StringComparison.Ordinal), StringComparison.Ordinal);
        var deploy = Path.Combine(dir, "deploy.prototxt");
        File.WriteAllText(deploy, text[..at] + "or5er" + text[(at + 5)..]);
        var model = Path.Combine(dir, "face.safetensors");

        var strict = Ssd("convert", Path.Combine(face, "model.caffemodel"), "--prototxt", deploy, "-o", model);
        AssertOneLineError(strict, "deploy.prototxt line", "'permute_param.or5er'", "--lenient");
        Assert.That(File.Exists(model), Is.False);

        var lenient = Ssd("convert", Path.Combine(face, "model.caffemodel"), "--prototxt", deploy, "--lenient", "-o", model);
        Assert.That(lenient.Code, Is.EqualTo(0), lenient.Error);
        Assert.That(lenient.Error, Does.Contain("warning: ").And.Contain("permute_param.or5er").And.Contain("ignored (--lenient)"));
        var inspect = Ssd("inspect", model);
        Assert.That(inspect.Code, Is.EqualTo(0), inspect.Error);
        Assert.That(inspect.Out, Does.Contain("ignored at conversion:").And.Contain("permute_param.or5er (unknown, line"));
    }

    [Test]
    public void InspectAndDetectReportANullRequiredFieldInOneLine()
    {
        var example = SafeTensorsFile.Read(Path.Combine(WeightsPaths.RepoRoot, "examples", "shapes", "shapes_ssd.safetensors"));
        var json = example.Metadata[ModelFile.DescriptionKey];
        foreach (var field in new[] { "outputs", "priors", "postProcess", "input" })
        {
            var model = Path.Combine(dir, $"null-{field}.in.safetensors");
            int at = json.IndexOf($"\"{field}\": {{", StringComparison.Ordinal);
            Assert.That(at, Is.GreaterThan(0), field);
            var broken = json[..at] + $"\"{field}\": null, \"unused\": " + json[(at + field.Length + 4)..];
            SafeTensorsFile.Write(model, example.Tensors.Values, new Dictionary<string, string> { [ModelFile.DescriptionKey] = broken });
            AssertOneLineError(Ssd("inspect", model), $"null-{field}.in.safetensors", "model description");
            var image = Path.Combine(WeightsPaths.RepoRoot, "examples", "shapes", "shapes_002.jpg");
            AssertOneLineError(Ssd("detect", "--model", model, "--backend", "cpu", image), "model description");
        }
    }

    [Test]
    public void InspectOnADirectoryIsOneLine() => AssertOneLineError(Ssd("inspect", dir), "is a folder");
}
