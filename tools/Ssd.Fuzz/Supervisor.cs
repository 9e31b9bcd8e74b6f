using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Ssd.Fuzz;

/// <summary>
/// `Ssd.Fuzz run`: runs worker processes until the time is up. A worker reports each input ("B i" before, "E
/// outcome" after); when it stops answering for three per-input limits it is killed and its input recorded as a
/// hang, and when it dies mid-input (stack overflow, fatal out of memory) the input is recorded as a crash; either
/// way a new worker continues after that input. Peak RSS is sampled from /proc while workers run.
/// </summary>
internal static class Supervisor
{
    public static int Run(Options o)
    {
        var options = o.FuzzOptions();
        var until = options.Until;
        long heapLimit = (long)o.Number("--heap-limit-mb", 1024) << 20;
        Directory.CreateDirectory(options.WorkDir);
        var findings = Path.Combine(options.WorkDir, "findings");
        if (Directory.Exists(findings)) Directory.Delete(findings, recursive: true);

        // The supervisor makes the same inputs as the workers, to save the one a dead worker was running.
        using var inputs = new FuzzRunner(FuzzTargets.All(), FuzzContext.Find(), options);
        var report = new FuzzReport { Seed = options.Seed, Machine = Memory.Machine(), HeapLimitBytes = heapLimit };
        var clock = Stopwatch.StartNew();
        Console.Error.WriteLine($"fuzzing {string.Join(", ", inputs.Targets.Select(t => t.Name))} until {until.ToLocalTime():T} (seed {options.Seed}); work folder {options.WorkDir}");

        long next = options.Start;
        var lastPrint = Stopwatch.StartNew();
        while (DateTime.UtcNow < until && next - options.Start < options.MaxInputs)
        {
            report.Workers++;
            var (current, exit) = RunWorker(options, next, until, heapLimit, report, inputs, ref next, lastPrint);
            if (current is { } dead)
            {
                // began an input and never finished it
                var (target, input) = inputs.Input(dead);
                var kind = exit == null ? OutcomeKind.Hang : OutcomeKind.Crash;
                var outcome = new InputOutcome(dead, target.Name, input.Length, kind,
                    exit == null ? "worker stopped answering; killed" : $"worker died with exit code {exit}", 0, 0);
                inputs.Save(outcome, input);
                report.Add(outcome);
                next = dead + 1;
            }
            else if (exit is not (0 or 3))
            {
                report.Crashes++;
                report.Findings.Add($"worker exited with code {exit} between inputs");
                if (report.Crashes > 20) break;
            }
        }

        report.Seconds = clock.Elapsed.TotalSeconds;
        var scratch = Path.Combine(options.WorkDir, "scratch");
        if (Directory.Exists(scratch))
            report.LeftoverFiles.AddRange(Directory.EnumerateFileSystemEntries(scratch, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }));
        File.WriteAllText(Path.Combine(options.WorkDir, "report.json"), report.ToJson());
        var markdown = report.ToMarkdown();
        File.WriteAllText(Path.Combine(options.WorkDir, "report.md"), markdown);
        Console.WriteLine(markdown);
        return report.FindingCount == 0 ? 0 : 1;
    }

    /// <summary>Runs one worker from input <paramref name="start"/>; returns the input it died in (if any) and its exit code (null: killed).</summary>
    private static (long? Current, int? Exit) RunWorker(FuzzOptions options, long start, DateTime until, long heapLimit, FuzzReport report,
        FuzzRunner inputs, ref long next, Stopwatch lastPrint)
    {
        var self = Environment.ProcessPath!;
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(typeof(Program).Assembly.Location);
        foreach (var a in new[]
                 {
                     "worker", "--seed", options.Seed.ToString(CultureInfo.InvariantCulture), "--start", start.ToString(CultureInfo.InvariantCulture),
                     "--until-ticks", until.Ticks.ToString(CultureInfo.InvariantCulture), "--work", options.WorkDir,
                     "--per-input-seconds", options.PerInputLimit.TotalSeconds.ToString(CultureInfo.InvariantCulture),
                 })
            psi.ArgumentList.Add(a);
        if (options.MaxInputs != long.MaxValue)
        {
            psi.ArgumentList.Add("--inputs");
            psi.ArgumentList.Add((options.MaxInputs - (start - options.Start)).ToString(CultureInfo.InvariantCulture));
        }
        if (options.Targets is { } t) { psi.ArgumentList.Add("--targets"); psi.ArgumentList.Add(string.Join(',', t)); }
        psi.Environment["DOTNET_GCHeapHardLimit"] = heapLimit.ToString("X", CultureInfo.InvariantCulture);

        using var worker = Process.Start(psi)!;
        var lines = new BlockingCollection<string?>();
        var reader = new Thread(() =>
        {
            string? line;
            while ((line = worker.StandardOutput.ReadLine()) != null) lines.Add(line);
            lines.Add(null);
        }) { IsBackground = true };
        reader.Start();

        long? current = null;
        var sinceBegin = Stopwatch.StartNew();
        var watchdog = options.PerInputLimit * 3 + TimeSpan.FromSeconds(30);
        while (true)
        {
            if (!lines.TryTake(out var line, 1000))
            {
                report.PeakRssBytes = Math.Max(report.PeakRssBytes, Memory.PeakRss(worker.Id));
                if (current != null && sinceBegin.Elapsed > watchdog)
                {
                    worker.Kill(entireProcessTree: true);
                    worker.WaitForExit();
                    return (current, null);
                }
                continue;
            }
            if (line == null) break;
            report.PeakRssBytes = Math.Max(report.PeakRssBytes, Memory.PeakRss(worker.Id));
            switch (line[0])
            {
                case 'B':
                    current = long.Parse(line[2..], CultureInfo.InvariantCulture);
                    sinceBegin.Restart();
                    break;
                case 'E':
                    var outcome = JsonSerializer.Deserialize<InputOutcome>(line[2..])!;
                    report.Add(outcome);
                    next = outcome.Index + 1;
                    current = null;
                    if (outcome.IsFinding) Console.Error.WriteLine($"finding: {outcome.Kind} {outcome.Target} #{outcome.Index}: {outcome.Detail.Split('\n')[0]}");
                    if (lastPrint.Elapsed > TimeSpan.FromSeconds(30))
                    {
                        Console.Error.WriteLine($"{report.Inputs:N0} inputs, {report.FindingCount} findings, peak RSS {report.PeakRssBytes >> 20} MiB");
                        lastPrint.Restart();
                    }
                    break;
                case 'P':
                    report.PeakRssBytes = Math.Max(report.PeakRssBytes, long.Parse(line[2..], CultureInfo.InvariantCulture));
                    break;
            }
        }
        worker.WaitForExit();
        return (current, worker.ExitCode);
    }
}
