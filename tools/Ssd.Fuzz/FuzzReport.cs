using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ssd.Fuzz;

/// <summary>Per-target counts of one fuzz run.</summary>
public sealed class TargetStats
{
    public long Inputs { get; set; }
    public long Ok { get; set; }
    public long Refused { get; set; }
    public long Crashes { get; set; }
    public long Hangs { get; set; }
    public long Leftovers { get; set; }
    public long MemoryOverBudget { get; set; }
    public long BadMessages { get; set; }
    public long MaxAllocatedBytes { get; set; }
    public long MaxAllocatedInputBytes { get; set; }
    public double MaxMilliseconds { get; set; }
    public double TotalMilliseconds { get; set; }
    /// <summary>Documented errors by type and first words of the message (the kinds of refusal seen).</summary>
    public SortedDictionary<string, long> RefusedBy { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>What a fuzz run did: counts per target, findings, the process's peak memory.</summary>
public sealed class FuzzReport
{
    public int Seed { get; set; }
    public string Machine { get; set; } = "";
    public DateTime StartedUtc { get; set; } = DateTime.UtcNow;
    public double Seconds { get; set; }
    public int Workers { get; set; }
    public long PeakRssBytes { get; set; }
    public long HeapLimitBytes { get; set; }
    public SortedDictionary<string, TargetStats> Targets { get; set; } = new(StringComparer.Ordinal);
    public List<string> Findings { get; set; } = [];
    public long Crashes { get; set; }
    public List<string> LeftoverFiles { get; set; } = [];

    public long Inputs => Targets.Values.Sum(t => t.Inputs);
    public long FindingCount => Targets.Values.Sum(t => t.Crashes + t.Hangs + t.Leftovers + t.MemoryOverBudget + t.BadMessages) + Crashes + LeftoverFiles.Count;

    public void Add(InputOutcome o)
    {
        if (!Targets.TryGetValue(o.Target, out var s)) Targets[o.Target] = s = new TargetStats();
        s.Inputs++;
        s.TotalMilliseconds += o.Milliseconds;
        s.MaxMilliseconds = Math.Max(s.MaxMilliseconds, o.Milliseconds);
        if (o.Allocated > s.MaxAllocatedBytes) (s.MaxAllocatedBytes, s.MaxAllocatedInputBytes) = (o.Allocated, o.InputBytes);
        switch (o.Kind)
        {
            case OutcomeKind.Ok: s.Ok++; break;
            case OutcomeKind.Refused:
                s.Refused++;
                var key = Summarize(o.Detail);
                s.RefusedBy[key] = s.RefusedBy.GetValueOrDefault(key) + 1;
                break;
            case OutcomeKind.Crash: s.Crashes++; break;
            case OutcomeKind.Hang: s.Hangs++; break;
            case OutcomeKind.Leftover: s.Leftovers++; break;
            case OutcomeKind.Memory: s.MemoryOverBudget++; break;
            case OutcomeKind.Message: s.BadMessages++; break;
        }
        if (o.IsFinding && Findings.Count < 200) Findings.Add($"{o.Kind} {o.Target} #{o.Index} ({o.InputBytes} bytes): {FirstLine(o.Detail)}");
    }

    /// <summary>"InvalidDataException: fuzz.pth: damaged zip archive" (or a scratch path for the data-set readers) -- the type and the message up to its first detail.</summary>
    private static string Summarize(string detail)
    {
        var line = FirstLine(detail);
        int colon = line.IndexOf(": ", StringComparison.Ordinal);
        var type = colon > 0 ? line[..colon] : line;
        var message = colon > 0 ? line[(colon + 2)..] : "";
        if ((message.StartsWith("fuzz.", StringComparison.Ordinal) || message.StartsWith('/')) && message.IndexOf(": ", StringComparison.Ordinal) is > 0 and var c) message = message[(c + 2)..];
        var words = message.Split(' ', StringSplitOptions.RemoveEmptyEntries).Take(4).Select(w => w.Any(char.IsDigit) || w.Contains('\'') ? "#" : w);
        return $"{type}: {string.Join(' ', words)}";
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();

    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"# Fuzz run: seed {Seed}, {Seconds / 60:F1} min, {Inputs:N0} inputs");
        sb.AppendLine();
        sb.AppendLine($"Machine: {Machine}. Started {StartedUtc:u}; {Workers} worker process(es), GC heap limit {HeapLimitBytes / (1 << 20):N0} MiB.");
        sb.AppendLine();
        sb.AppendLine($"**Findings: {FindingCount}** (crashes {Targets.Values.Sum(t => t.Crashes) + Crashes}, hangs {Targets.Values.Sum(t => t.Hangs)}, "
            + $"over the memory budget {Targets.Values.Sum(t => t.MemoryOverBudget)}, leftover files {Targets.Values.Sum(t => t.Leftovers) + LeftoverFiles.Count}, "
            + $"bad messages {Targets.Values.Sum(t => t.BadMessages)}). Peak RSS of a worker: {PeakRssBytes / (1 << 20):N0} MiB.");
        sb.AppendLine();
        sb.AppendLine("| target | inputs | ok | refused | crashes | hangs | leftovers | over budget | max allocated (input) | max ms | inputs/s |");
        sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var (name, t) in Targets)
            sb.AppendLine($"| {name} | {t.Inputs:N0} | {t.Ok:N0} | {t.Refused:N0} | {t.Crashes} | {t.Hangs} | {t.Leftovers} | {t.MemoryOverBudget} | "
                + $"{t.MaxAllocatedBytes / 1e6:F1} MB ({t.MaxAllocatedInputBytes / 1e3:F1} KB) | {t.MaxMilliseconds:F0} | {t.Inputs / Math.Max(t.TotalMilliseconds / 1000, 1e-9):F0} |");
        if (Findings.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("## Findings (inputs and details under the work folder's findings/)");
            foreach (var f in Findings) sb.AppendLine($"- {f}");
        }
        sb.AppendLine();
        sb.AppendLine("## Refusals seen (documented errors, by type and first words)");
        foreach (var (name, t) in Targets)
        {
            sb.AppendLine($"- **{name}**: " + string.Join("; ", t.RefusedBy.OrderByDescending(kv => kv.Value).Take(12).Select(kv => $"{kv.Key} ({kv.Value:N0})")));
        }
        return sb.ToString();
    }
}
