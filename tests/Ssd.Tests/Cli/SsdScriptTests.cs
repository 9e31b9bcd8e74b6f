using System.Diagnostics;
using Ssd.Tests.Weights;

namespace Ssd.Tests.Cli;

/// <summary>
/// The `./ssd` launcher, run with a stand-in `dotnet` on PATH that records its calls: it publishes the command line
/// (ReadyToRun for the machine's runtime) on first use and when a source is newer, telling so in one line on stderr,
/// and otherwise only runs it, silently.
/// </summary>
public class SsdScriptTests
{
    [Test]
    public void BuildsOnceWithANoticeThenRunsQuietly()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Ignore("a bash script");
            return;
        }
        using var dir = CliRunner.Temp();
        // A miniature repository: the script, and the paths it watches.
        Directory.CreateDirectory(dir["repo/tools/Ssd.Cli"]);
        Directory.CreateDirectory(dir["repo/src/Lib"]);
        File.Copy(Path.Combine(WeightsPaths.RepoRoot, "ssd"), dir["repo/ssd"]);
        File.WriteAllText(dir["repo/src/Lib/A.cs"], "class A {}");
        File.WriteAllText(dir["repo/tools/Ssd.Cli/Program.cs"], "class P {}");
        File.WriteAllText(dir["repo/Directory.Build.props"], "<Project/>");
        File.WriteAllText(dir["repo/Directory.Packages.props"], "<Project/>");
        Directory.CreateDirectory(dir["bin"]);
        File.WriteAllText(dir["bin/dotnet"], $$"""
            #!/usr/bin/env bash
            echo "$*" >> {{dir["calls.log"]}}
            case "$1" in
              --info) echo " RID:         linux-x64" ;;
              publish) while [ $# -gt 0 ]; do [ "$1" = -o ] && { mkdir -p "$2"; touch "$2/ssd.dll"; }; shift; done ;;
              *) echo "ran $*" ;;
            esac
            """.Replace("\r", ""));
        File.SetUnixFileMode(dir["bin/dotnet"], UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var first = Run(dir, "detect", "x.jpg");
        Assert.That(first.Err, Does.StartWith("ssd: building the command line"), "a notice while it builds");
        Assert.That(first.Err.Trim().Split('\n'), Has.Length.EqualTo(1), "one line");
        Assert.That(first.Out.Trim(), Does.EndWith("ssd.dll detect x.jpg"));
        var calls = File.ReadAllLines(dir["calls.log"]);
        Assert.That(calls.Single(c => c.StartsWith("publish", StringComparison.Ordinal)), Does.Contain("-r linux-x64").And.Contain("-c Release"), "ReadyToRun needs the runtime");

        var second = Run(dir, "devices");
        Assert.That(second.Err, Is.Empty, "no build, no notice");
        Assert.That(File.ReadAllLines(dir["calls.log"]).Count(c => c.StartsWith("publish", StringComparison.Ordinal)), Is.EqualTo(1));

        Thread.Sleep(1100);   // file times in whole seconds on some file systems
        File.WriteAllText(dir["repo/src/Lib/A.cs"], "class A { int x; }");
        var third = Run(dir, "devices");
        Assert.That(third.Err, Does.StartWith("ssd: building the command line"), "a changed source rebuilds");
    }

    private static CliRunner.Result Run(CliRunner.TempDir dir, params string[] args)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(dir["repo/ssd"]);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["PATH"] = dir["bin"] + ":" + Environment.GetEnvironmentVariable("PATH");
        using var p = Process.Start(start)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return new CliRunner.Result(p.ExitCode, o.Result, e.Result);
    }
}
