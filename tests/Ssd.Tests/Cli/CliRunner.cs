using System.Diagnostics;
using Ssd.Tests.Weights;

namespace Ssd.Tests.Cli;

/// <summary>
/// Runs `ssd` as a script would: in this process through Program.Main with stdout and stderr captured (fast), or as
/// its own process (`dotnet ssd.dll`, built beside the tests) where signals, hangs or memory are under test.
/// </summary>
public static class CliRunner
{
    public sealed record Result(int Code, string Out, string Err)
    {
        public override string ToString() => $"exit {Code}\n--- stdout\n{Out}\n--- stderr\n{Err}";

        /// <summary>The error lines a script sees: each starts "error: ", nothing looks like a .NET stack trace or type.</summary>
        public Result AssertCleanErrors()
        {
            Assert.That(Err, Does.Not.Contain("   at ").And.Not.Contain("Unhandled").And.Not.Contain("Exception").And.Not.Contain("System."), ToString());
            foreach (var line in Err.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                Assert.That(line, Does.StartWith("error: ").Or.StartWith("see: ").Or.StartWith("warning: ").Or.StartWith("ssd: "), ToString());
            return this;
        }
    }

    private static readonly object console = new();

    public static string Root => WeightsPaths.RepoRoot;
    public static string ShapesModel => Path.Combine(Root, "examples", "shapes", "shapes_ssd.safetensors");
    public static string Example(string name) => Path.Combine(Root, "examples", "shapes", name);

    /// <summary>Program.Main in this process, stdout and stderr captured.</summary>
    public static Result Run(params string[] args)
    {
        lock (console)
        {
            var (stdout, stderr) = (Console.Out, Console.Error);
            var (o, e) = (new StringWriter(), new StringWriter());
            Console.SetOut(o);
            Console.SetError(e);
            int code;
            try { code = Ssd.Cli.Program.Main(args); }
            finally { Console.SetOut(stdout); Console.SetError(stderr); }
            return new Result(code, o.ToString(), e.ToString());
        }
    }

    /// <summary>The ssd.dll built beside the tests.</summary>
    public static string Dll => Path.Combine(TestContext.CurrentContext.TestDirectory, "ssd.dll");

    /// <summary>
    /// `dotnet ssd.dll ARGS` as a process of its own. <paramref name="whileRunning"/> gets the process once started
    /// (to signal it); the process is killed after <paramref name="timeout"/> (the result then has exit code -1).
    /// Returns the result and the peak resident memory seen (VmHWM, Linux).
    /// </summary>
    public static (Result Result, long PeakBytes) RunProcess(string[] args, IReadOnlyDictionary<string, string>? environment = null,
        TimeSpan? timeout = null, Action<Process>? whileRunning = null)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) start.Environment[k] = v;
        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        long peak = 0;
        var watch = Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromMinutes(2);
        bool signalled = false;
        while (!p.HasExited)
        {
            peak = Math.Max(peak, PeakResident(p.Id));
            if (!signalled && whileRunning is not null) { whileRunning(p); signalled = true; }
            if (watch.Elapsed > limit)
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit();
                return (new Result(-1, stdout.Result, stderr.Result + $"\n(killed after {limit.TotalSeconds:F0} s)"), peak);
            }
            Thread.Sleep(20);
        }
        p.WaitForExit();
        return (new Result(p.ExitCode, stdout.Result, stderr.Result), peak);
    }

    /// <summary>VmHWM of a running process in bytes (0 when unknown).</summary>
    private static long PeakResident(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0]) * 1024;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { }
        return 0;
    }

    /// <summary>A fresh temporary folder, deleted by <see cref="TempDir.Dispose"/>.</summary>
    public static TempDir Temp() => new();

    public sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("ssd-cli-").FullName;
        public string this[string name] => System.IO.Path.Combine(Path, name);

        /// <summary>Every file in the folder, recursively, by relative path (temporaries included).</summary>
        public string[] Files() => Directory.EnumerateFiles(Path, "*", SearchOption.AllDirectories)
            .Select(f => System.IO.Path.GetRelativePath(Path, f)).OrderBy(f => f, StringComparer.Ordinal).ToArray();

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); }
            catch (IOException) { }
        }
    }
}
