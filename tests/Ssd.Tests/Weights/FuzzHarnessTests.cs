using System.Diagnostics;
using System.Text.Json;
using Ssd.Fuzz;

namespace Ssd.Tests.Weights;

/// <summary>
/// The fuzz harness (tools/Ssd.Fuzz) in CI: a short seeded pass over every reader in process, the supervisor and
/// its worker processes end to end, and the bombs measured in a child process under a 512 MB GC heap limit,
/// by its peak RSS (VmHWM). The 10-minute run is `dotnet run --project tools/Ssd.Fuzz -c Release -- run --minutes 10`.
/// </summary>
public class FuzzHarnessTests
{
    [Test]
    public void AShortSeededPassOverEveryReaderFindsNothing()
    {
        var work = Directory.CreateTempSubdirectory("ssd-fuzz-ci-").FullName;
        try
        {
            var targets = FuzzTargets.All();
            using var runner = new FuzzRunner(targets, FuzzContext.Find(),
                new FuzzOptions { Seed = 16, MaxInputs = 120L * targets.Count, WorkDir = work, PerInputLimit = TimeSpan.FromSeconds(60) });
            Assert.That(runner.Targets.Select(t => t.Name), Is.EquivalentTo(targets.Select(t => t.Name)), "every target has seeds here");
            var report = new FuzzReport { Seed = 16 };
            runner.Run(null, report.Add);
            TestContext.Out.WriteLine(report.ToMarkdown());
            Assert.That(report.Inputs, Is.EqualTo(120L * targets.Count));
            Assert.That(report.Findings, Is.Empty);
            Assert.That(report.Targets.Values.Select(t => t.Ok), Is.All.GreaterThan(0), "every target also reads some inputs");
            Assert.That(Directory.EnumerateFileSystemEntries(Path.Combine(work, "scratch")), Is.Empty, "no leftover files");
        }
        finally { Directory.Delete(work, recursive: true); }
    }

    [Test]
    public void InputsAreReproducibleFromSeedAndIndex()
    {
        var work = Directory.CreateTempSubdirectory("ssd-fuzz-repro-").FullName;
        try
        {
            var options = new FuzzOptions { Seed = 3, WorkDir = work, Targets = ["zip", "prototxt"] };
            using var a = new FuzzRunner(FuzzTargets.All(), FuzzContext.Find(), options);
            using var b = new FuzzRunner(FuzzTargets.All(), FuzzContext.Find(), options);
            for (long i = 0; i < 20; i++) Assert.That(a.Input(i).Input, Is.EqualTo(b.Input(i).Input), $"input {i}");
        }
        finally { Directory.Delete(work, recursive: true); }
    }

    private static (int Code, string Out) Fuzz(IDictionary<string, string>? env, params string[] args)
    {
        var dll = Path.Combine(TestContext.CurrentContext.TestDirectory, "Ssd.Fuzz.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var error = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output + error.Result);
    }

    [Test]
    public void TheSupervisorRunsWorkersAndWritesTheReport()
    {
        var work = Directory.CreateTempSubdirectory("ssd-fuzz-run-").FullName;
        try
        {
            var (code, output) = Fuzz(null, "run", "--seconds", "120", "--inputs", "60", "--seed", "5", "--work", work, "--targets", "pickle,zip,safetensors");
            Assert.That(code, Is.EqualTo(0), output);
            using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(work, "report.json")));
            var targets = report.RootElement.GetProperty("Targets");
            Assert.That(targets.EnumerateObject().Sum(t => t.Value.GetProperty("Inputs").GetInt64()), Is.EqualTo(60));
            Assert.That(report.RootElement.GetProperty("PeakRssBytes").GetInt64(), Is.GreaterThan(1 << 20));
            Assert.That(File.ReadAllText(Path.Combine(work, "report.md")), Does.Contain("**Findings: 0**"));
        }
        finally { Directory.Delete(work, recursive: true); }
    }

    /// <summary>Peak RSS of the whole process (runtime included) reading each bomb, under a 512 MB GC heap limit.</summary>
    [TestCase("dict-flood", "zip", "pickle.memory")]
    [TestCase("overlapping-entries", "zip", "overlap")]
    [TestCase("inflating-pickle", "zip", "pickle.bytes")]
    [TestCase("hash-flood", "pickle", null)]
    public void BombsStayWithinTheMemoryBudgetInAChildProcess(string bomb, string target, string? refusal)
    {
        var dir = Directory.CreateTempSubdirectory("ssd-bomb-").FullName;
        try
        {
            var file = Path.Combine(dir, bomb + ".bin");
            File.WriteAllBytes(file, Program.BombFiles[bomb].Make());
            long length = new FileInfo(file).Length;
            var (code, output) = Fuzz(new Dictionary<string, string> { ["DOTNET_GCHeapHardLimit"] = "0x20000000" }, "measure", "--target", target, "--file", file);
            var json = output.Split('\n').First(l => l.StartsWith('{'));
            using var result = JsonDocument.Parse(json);
            var r = result.RootElement;
            TestContext.Out.WriteLine(json);
            Assert.That(code, Is.EqualTo(0), output);
            Assert.That(r.GetProperty("kind").GetString(), Is.EqualTo(refusal is null ? "Ok" : "Refused"));
            if (refusal is not null) Assert.That(r.GetProperty("detail").GetString(), Does.Contain(refusal));
            long peak = r.GetProperty("peak_rss_bytes").GetInt64();
            Assert.That(peak, Is.GreaterThan(0).And.LessThan(Math.Max(4 * length, 512L << 20)), $"peak RSS {peak:N0} for a {length:N0}-byte file");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
