using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Ssd.Weights;

namespace Ssd.Fuzz;

/// <summary>
/// The fuzz harness over every reader of Ssd (tools/Ssd.Fuzz/README.md):
/// <code>
/// dotnet run --project tools/Ssd.Fuzz -c Release -- run --minutes 10 --seed 1     # all targets, report in fuzz-out/
/// dotnet run --project tools/Ssd.Fuzz -c Release -- measure --target zip --file x.pth
/// dotnet run --project tools/Ssd.Fuzz -c Release -- bomb dict-flood --out flood.pth
/// </code>
/// `run` is a supervisor: it starts worker processes (this program, `worker`) under a GC heap limit, reads one line
/// per input from them, samples their peak RSS, restarts a worker after a hang or a crash (recording the input
/// that caused it), and writes the report (markdown and JSON) when the time is up. Exit code 0: no findings; 1:
/// findings; 2: usage.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help") return Usage();
        try
        {
            var o = Options.Parse(args[1..]);
            return args[0] switch
            {
                "run" => Supervisor.Run(o),
                "worker" => Worker(o),
                "measure" => Measure(o),
                "bomb" => Bomb(o),
                "list" => List(),
                _ => Usage(),
            };
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }

    private static int Usage()
    {
        Console.Error.WriteLine("""
            usage: Ssd.Fuzz run [--minutes M | --seconds S] [--seed N] [--targets a,b,...] [--work DIR] [--per-input-seconds 10] [--heap-limit-mb 1024]
                   Ssd.Fuzz measure --target T --file F        one input in this process: outcome, allocation, peak RSS (JSON)
                   Ssd.Fuzz bomb NAME --out FILE               write one of issue 16's hostile files (list: Ssd.Fuzz list)
                   Ssd.Fuzz list                               targets and bombs
            """);
        return 2;
    }

    private static int List()
    {
        foreach (var t in FuzzTargets.All()) Console.WriteLine($"target {t.Name,-14} {t.Description}");
        foreach (var b in BombFiles.Keys) Console.WriteLine($"bomb   {b}");
        return 0;
    }

    /// <summary>The bombs by name, with the target that reads them.</summary>
    public static readonly IReadOnlyDictionary<string, (string Target, Func<byte[]> Make)> BombFiles = new Dictionary<string, (string, Func<byte[]>)>
    {
        ["dict-flood"] = ("zip", () => Bombs.DictFlood()),
        ["overlapping-entries"] = ("zip", () => Bombs.OverlappingEntries()),
        ["inflating-pickle"] = ("zip", () => Bombs.InflatingPickle()),
        ["hash-flood"] = ("pickle", () => Bombs.HashFloodPickle()),
        ["duplicate-entries"] = ("zip", Bombs.DuplicateEntries),
        ["overflowing-storage"] = ("zip", Bombs.OverflowingStorage),
        ["storage-bigger-than-entry"] = ("zip", Bombs.StorageBiggerThanEntry),
        ["long1-ints"] = ("zip", Bombs.Long1Ints),
    };

    private static int Bomb(Options o)
    {
        var name = o.Positional.FirstOrDefault() ?? throw new ArgumentException("bomb: which one? (Ssd.Fuzz list)");
        if (!BombFiles.TryGetValue(name, out var bomb)) throw new ArgumentException($"bomb: unknown '{name}'");
        var bytes = bomb.Make();
        File.WriteAllBytes(o.Get("--out") ?? throw new ArgumentException("bomb: --out FILE"), bytes);
        Console.WriteLine($"{name}: {bytes.Length:N0} bytes (read it with target '{bomb.Target}')");
        return 0;
    }

    /// <summary>One input on the main thread; prints its outcome, allocation and this process's peak RSS as JSON.</summary>
    private static int Measure(Options o)
    {
        var name = o.Get("--target") ?? throw new ArgumentException("measure: --target T");
        var target = FuzzTargets.All().FirstOrDefault(t => t.Name == name) ?? throw new ArgumentException($"measure: unknown target '{name}'");
        var input = File.ReadAllBytes(o.Get("--file") ?? throw new ArgumentException("measure: --file F"));
        target.Prepare(FuzzContext.Find());
        var scratch = Directory.CreateTempSubdirectory("ssd-fuzz-measure-").FullName;
        try
        {
            long rssBefore = Memory.PeakRss();
            var outcome = FuzzRunner.Execute(0, target, input, scratch);
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                target = name, input_bytes = input.Length, kind = outcome.Kind.ToString(), detail = outcome.Detail.Split('\n')[0],
                allocated_bytes = outcome.Allocated, peak_rss_bytes = Memory.PeakRss(), peak_rss_before_bytes = rssBefore,
                budget_bytes = FuzzRunner.MemoryBudget(input.Length), milliseconds = outcome.Milliseconds,
            }));
            return outcome.IsFinding ? 1 : 0;
        }
        finally { Directory.Delete(scratch, recursive: true); }
    }

    /// <summary>A worker process: runs inputs from --start, prints "B i" before and "E json" after each, "P peak" at the end.</summary>
    private static int Worker(Options o)
    {
        var options = o.FuzzOptions();
        using var runner = new FuzzRunner(FuzzTargets.All(), FuzzContext.Find(), options);
        var output = Console.Out;
        runner.Run(i => { output.WriteLine($"B {i}"); output.Flush(); },
            outcome => { output.WriteLine("E " + JsonSerializer.Serialize(outcome)); output.Flush(); });
        output.WriteLine($"P {Memory.PeakRss()}");
        output.Flush();
        // After a hang the executor thread is stuck: leave without waiting for it.
        if (runner.Hung) Environment.Exit(3);
        return 0;
    }
}

/// <summary>Command-line options: --name value pairs and positional words.</summary>
internal sealed class Options
{
    private readonly Dictionary<string, string> named = [];
    public List<string> Positional { get; } = [];

    public static Options Parse(string[] args)
    {
        var o = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i].StartsWith("--", StringComparison.Ordinal))
            {
                if (i + 1 >= args.Length) throw new ArgumentException($"{args[i]} needs a value");
                o.named[args[i]] = args[++i];
            }
            else o.Positional.Add(args[i]);
        }
        return o;
    }

    public string? Get(string name) => named.GetValueOrDefault(name);

    public double Number(string name, double fallback) => Get(name) is { } v
        ? double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d >= 0 ? d : throw new ArgumentException($"{name}: '{v}' is not a non-negative number")
        : fallback;

    /// <summary>--work, else fuzz-out/ in the repository (git-ignored).</summary>
    public string WorkDir => Path.GetFullPath(Get("--work") ?? Path.Combine(FuzzContext.Find().RepoRoot, "fuzz-out"));

    public FuzzOptions FuzzOptions() => new()
    {
        Seed = (int)Number("--seed", 1),
        Start = (long)Number("--start", 0),
        MaxInputs = Get("--inputs") is null ? long.MaxValue : (long)Number("--inputs", 0),
        Until = Get("--until-ticks") is { } t ? new DateTime(long.Parse(t, CultureInfo.InvariantCulture), DateTimeKind.Utc)
            : DateTime.UtcNow + TimeSpan.FromSeconds(Number("--seconds", Number("--minutes", 1) * 60)),
        PerInputLimit = TimeSpan.FromSeconds(Number("--per-input-seconds", 10)),
        WorkDir = WorkDir,
        Targets = Get("--targets")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
    };
}

/// <summary>Peak resident memory (VmHWM) from /proc, of this process or another.</summary>
public static class Memory
{
    public static long PeakRss(int? pid = null)
    {
        try
        {
            foreach (var line in File.ReadLines(pid is { } p ? $"/proc/{p}/status" : "/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException) { }
        return 0;
    }

    /// <summary>"model name (CPU family N)" from /proc/cpuinfo, as the bench results name machines.</summary>
    public static string Machine()
    {
        try
        {
            var lines = File.ReadAllLines("/proc/cpuinfo");
            string Field(string key) => lines.FirstOrDefault(l => l.StartsWith(key, StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
            return $"{Field("model name")} (CPU family {Field("cpu family")}), {Environment.ProcessorCount} cores";
        }
        catch (IOException) { return $"{Environment.ProcessorCount} cores"; }
    }
}
