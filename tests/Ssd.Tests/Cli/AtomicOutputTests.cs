using System.Diagnostics;
using Ssd.Cli;
using Ssd.Tests.Weights;
using Ssd.Weights.IO;
using static Ssd.Tests.Cli.CliRunner;

namespace Ssd.Tests.Cli;

/// <summary>
/// issue 16 item 6 and 8: every output goes through <see cref="AtomicFile"/>: a failed write keeps the old file and
/// leaves no temporary file; SIGTERM / SIGINT during a write remove the temporary file; even SIGKILL leaves the old
/// file whole. Signals are sent to a real `ssd` process while the test hook holds a finished temporary file.
/// </summary>
public class AtomicOutputTests
{
    [Test]
    public void AFailingWriteKeepsTheOldFileAndLeavesNoTemporary()
    {
        using var dir = Temp();
        File.WriteAllText(dir["out.json"], "old");
        // As on a full disk: the writer fails half-way.
        Assert.Throws<IOException>(() => AtomicFile.Write(dir["out.json"], s => { s.Write(new byte[100]); throw new IOException("No space left on device"); }));
        Assert.That(File.ReadAllText(dir["out.json"]), Is.EqualTo("old"));
        Assert.That(dir.Files(), Is.EqualTo(new[] { "out.json" }));
        AtomicFile.WriteAllText(dir["out.json"], "new");
        Assert.That(File.ReadAllText(dir["out.json"]), Is.EqualTo("new"));
        Assert.That(dir.Files(), Is.EqualTo(new[] { "out.json" }));
        Assert.That(AtomicFile.IsTemporaryName($".out.json.{Guid.NewGuid():N}.tmp"));
        Assert.That(AtomicFile.IsTemporaryName("out.json"), Is.False);
    }

    [TestCase("TERM", ExitCodes.Terminated)]
    [TestCase("INT", ExitCodes.Interrupted)]
    public void ASignalDuringTheJsonWriteRemovesTheTemporaryAndKeepsTheOldFile(string signal, int code)
    {
        using var dir = Temp();
        File.WriteAllText(dir["d.json"], "previous results");
        var (r, _) = RunProcess(["detect", "--model", ShapesModel, Example("shapes_001.jpg"), "--json", dir["d.json"]],
            new Dictionary<string, string> { [AtomicFile.DelayVariable] = "20000" },
            whileRunning: p => SignalWhenTemporaryExists(p, dir.Path, signal));
        Assert.That(r.Code, Is.EqualTo(code), r.ToString());
        r.AssertCleanErrors();
        Assert.That(r.Err, Does.Contain($"ssd: stopped by SIG{signal}; 1 unfinished output file(s) removed"));
        Assert.That(dir.Files(), Is.EqualTo(new[] { "d.json" }), "no temporary file left");
        Assert.That(File.ReadAllText(dir["d.json"]), Is.EqualTo("previous results"));
    }

    [Test]
    public void ASignalDuringConvertLeavesNoHiddenTemporaryAndNoOutput()
    {
        using var dir = Temp();
        var face = WeightsPaths.FaceModelDir;
        var (r, _) = RunProcess(["convert", Path.Combine(face, "model.caffemodel"), "--prototxt", Path.Combine(face, "deploy.prototxt"), "-o", dir["face.safetensors"]],
            new Dictionary<string, string> { [AtomicFile.DelayVariable] = "20000" },
            whileRunning: p => SignalWhenTemporaryExists(p, dir.Path, "TERM"));
        Assert.That(r.Code, Is.EqualTo(ExitCodes.Terminated), r.ToString());
        Assert.That(dir.Files(), Is.Empty);
    }

    [Test]
    public void SigkillDuringTheWriteLeavesTheOldFileWhole()
    {
        using var dir = Temp();
        File.WriteAllText(dir["d.json"], "previous results");
        var (r, _) = RunProcess(["detect", "--model", ShapesModel, Example("shapes_001.jpg"), "--json", dir["d.json"]],
            new Dictionary<string, string> { [AtomicFile.DelayVariable] = "20000" },
            whileRunning: p => SignalWhenTemporaryExists(p, dir.Path, "KILL"));
        Assert.That(r.Code, Is.Not.EqualTo(ExitCodes.Ok), r.ToString());
        Assert.That(File.ReadAllText(dir["d.json"]), Is.EqualTo("previous results"), "the target is never half-written");
        Assert.That(dir.Files().Where(f => f != "d.json").Select(Path.GetFileName), Has.All.Matches<string>(AtomicFile.IsTemporaryName),
            "at most a hidden .d.json.*.tmp, which SIGKILL gives no chance to remove");
    }

    /// <summary>Waits (up to a minute) for a finished temporary file of AtomicFile in the folder, then sends the signal.</summary>
    private static void SignalWhenTemporaryExists(Process p, string folder, string signal)
    {
        var watch = Stopwatch.StartNew();
        while (!Directory.EnumerateFiles(folder).Select(Path.GetFileName).Any(f => AtomicFile.IsTemporaryName(f!)))
        {
            if (p.HasExited || watch.Elapsed > TimeSpan.FromMinutes(1)) Assert.Fail($"no temporary file appeared in {folder}");
            Thread.Sleep(20);
        }
        using var kill = Process.Start(new ProcessStartInfo("kill", $"-{signal} {p.Id}") { UseShellExecute = false })!;
        kill.WaitForExit();
    }
}
