using System.Diagnostics;

namespace Ssd.Fuzz;

public enum OutcomeKind
{
    /// <summary>The input was read (or converted) successfully.</summary>
    Ok,
    /// <summary>A documented error with a one-line message: the expected answer to a bad file.</summary>
    Refused,
    /// <summary>An exception of an undocumented type (or a failed round trip): a bug.</summary>
    Crash,
    /// <summary>No answer within the per-input time limit.</summary>
    Hang,
    /// <summary>Files left in the scratch folder that the target did not mean to leave.</summary>
    Leftover,
    /// <summary>More allocated than the memory budget (4x the input or 512 MB, whichever is larger).</summary>
    Memory,
    /// <summary>A documented error whose message is empty or longer than one line.</summary>
    Message,
}

/// <summary>What one input did. Allocated is GC.GetAllocatedBytesForCurrentThread over the run (an upper bound of its peak).</summary>
public sealed record InputOutcome(long Index, string Target, int InputBytes, OutcomeKind Kind, string Detail, long Allocated, double Milliseconds)
{
    public bool IsFinding => Kind is not (OutcomeKind.Ok or OutcomeKind.Refused);
}

public sealed record FuzzOptions
{
    public int Seed { get; init; } = 1;
    /// <summary>First global input index (a restarted worker continues after the input that stopped it).</summary>
    public long Start { get; init; }
    public long MaxInputs { get; init; } = long.MaxValue;
    public DateTime Until { get; init; } = DateTime.MaxValue;
    public TimeSpan PerInputLimit { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Scratch and findings go here.</summary>
    public required string WorkDir { get; init; }
    public IReadOnlyCollection<string>? Targets { get; init; }
}

/// <summary>
/// Runs inputs against the targets, in process: global input g goes to target g mod T as that target's input
/// g div T, generated deterministically from (seed, target, index), so any input can be made again from its
/// numbers. Each input runs on one executor thread under the per-input time limit, with a clean scratch folder;
/// its outcome, allocation and leftover files are recorded, and findings saved under WorkDir/findings.
/// A hang stops the run (the stuck thread cannot be taken back); the supervisor restarts a worker process after it.
/// </summary>
public sealed class FuzzRunner : IDisposable
{
    /// <summary>The acceptance budget of issue 16: at most 4x the input or 512 MB, whichever is larger.</summary>
    public static long MemoryBudget(long inputBytes) => Math.Max(4 * inputBytes, 512L << 20);

    private readonly FuzzOptions options;
    private readonly List<(FuzzTarget Target, IReadOnlyList<byte[]> Seeds)> targets = [];
    private readonly Executor executor = new();
    private readonly string scratch, findings;

    public IReadOnlyList<FuzzTarget> Targets => targets.Select(t => t.Target).ToList();
    public bool Hung { get; private set; }

    public FuzzRunner(IEnumerable<FuzzTarget> all, FuzzContext context, FuzzOptions options)
    {
        this.options = options;
        foreach (var t in all)
        {
            if (options.Targets is { } names && !names.Contains(t.Name)) continue;
            t.Prepare(context);
            var seeds = t.Seeds(context);
            if (seeds.Count > 0) targets.Add((t, seeds));
        }
        if (targets.Count == 0) throw new ArgumentException("no fuzz target has seeds (wrong --targets, or the fixtures are missing)");
        scratch = Path.Combine(options.WorkDir, "scratch");
        findings = Path.Combine(options.WorkDir, "findings");
        Directory.CreateDirectory(scratch);
    }

    /// <summary>The target and bytes of global input <paramref name="index"/>.</summary>
    public (FuzzTarget Target, byte[] Input) Input(long index)
    {
        var (target, seeds) = targets[(int)(index % targets.Count)];
        long local = index / targets.Count;
        var rng = new Random(Mix(options.Seed, StableHash(target.Name), local));
        var seed = seeds[rng.Next(seeds.Count)];
        // One input in 16 is a seed as it is (they must keep working); the rest are mutated.
        return (target, rng.Next(16) == 0 ? seed : target.Mutate(seed, rng, seeds));
    }

    /// <summary>Runs inputs from options.Start until the time, the count or a hang ends it.</summary>
    public void Run(Action<long>? starting, Action<InputOutcome> finished)
    {
        for (long i = options.Start; i - options.Start < options.MaxInputs && DateTime.UtcNow < options.Until; i++)
        {
            starting?.Invoke(i);
            var outcome = RunOne(i);
            finished(outcome);
            if (outcome.Kind == OutcomeKind.Hang) { Hung = true; return; }
        }
        // The last input's outputs (kept on purpose) go too, so whatever the supervisor finds afterwards was left by mistake.
        ClearScratch(scratch);
    }

    public InputOutcome RunOne(long index)
    {
        var (target, input) = Input(index);
        ClearScratch(scratch);
        InputOutcome? result = null;
        bool answered = executor.TryRun(() => result = Execute(index, target, input, scratch), options.PerInputLimit);
        if (!answered)
        {
            var hang = new InputOutcome(index, target.Name, input.Length, OutcomeKind.Hang, $"no answer within {options.PerInputLimit.TotalSeconds} s", 0, options.PerInputLimit.TotalMilliseconds);
            Save(hang, input);
            return hang;
        }
        if (result!.IsFinding) Save(result, input);
        return result;
    }

    /// <summary>Runs one input on the calling thread in <paramref name="scratch"/> (empty) and judges the outcome.</summary>
    public static InputOutcome Execute(long index, FuzzTarget target, byte[] input, string scratch)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        IReadOnlyCollection<string> kept = [];
        OutcomeKind kind;
        string detail;
        try
        {
            kept = target.Run(input, scratch);
            (kind, detail) = (OutcomeKind.Ok, "");
        }
        catch (Exception e) when (target.IsDocumented(e))
        {
            bool oneLine = e.Message.Length > 0 && !e.Message.Contains('\n');
            (kind, detail) = (oneLine ? OutcomeKind.Refused : OutcomeKind.Message, $"{e.GetType().Name}: {e.Message}");
        }
        catch (Exception e)
        {
            (kind, detail) = (OutcomeKind.Crash, e.ToString());
        }
        double ms = clock.Elapsed.TotalMilliseconds;
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        var left = Directory.EnumerateFiles(scratch, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(f => Path.GetRelativePath(scratch, f)).Where(f => kind != OutcomeKind.Ok || !kept.Contains(f)).ToList();
        if (left.Count > 0 && kind is OutcomeKind.Ok or OutcomeKind.Refused)
            (kind, detail) = (OutcomeKind.Leftover, $"{string.Join(", ", left)} left after: {(detail.Length > 0 ? detail : "success")}");
        if (allocated > MemoryBudget(input.Length) && kind is OutcomeKind.Ok or OutcomeKind.Refused)
            (kind, detail) = (OutcomeKind.Memory, $"allocated {allocated:N0} bytes for a {input.Length:N0}-byte input ({detail})");
        return new InputOutcome(index, target.Name, input.Length, kind, detail, allocated, ms);
    }

    public static void ClearScratch(string scratch)
    {
        foreach (var f in Directory.EnumerateFileSystemEntries(scratch))
            if (Directory.Exists(f)) Directory.Delete(f, recursive: true); else File.Delete(f);
    }

    /// <summary>Writes the input and what happened to it under WorkDir/findings.</summary>
    public void Save(InputOutcome outcome, byte[] input)
    {
        Directory.CreateDirectory(findings);
        var stem = Path.Combine(findings, $"{outcome.Kind.ToString().ToLowerInvariant()}-{outcome.Target}-{outcome.Index}");
        File.WriteAllBytes(stem + ".bin", input);
        File.WriteAllText(stem + ".txt", $"target {outcome.Target}, input {outcome.Index} (seed {options.Seed}), {input.Length} bytes\n"
            + $"reproduce: Ssd.Fuzz measure --target {outcome.Target} --file {stem}.bin\n\n{outcome.Detail}\n");
    }

    public void Dispose() => executor.Dispose();

    private static int StableHash(string s)
    {
        uint h = 2166136261;
        foreach (char c in s) h = (h ^ c) * 16777619;
        return (int)h;
    }

    private static int Mix(int seed, int target, long index)
    {
        ulong x = (ulong)(uint)seed * 0x9E3779B97F4A7C15UL ^ (ulong)(uint)target * 0xC2B2AE3D27D4EB4FUL ^ (ulong)index * 0x165667B19E3779F9UL;
        x ^= x >> 31;
        x *= 0xBF58476D1CE4E5B9UL;
        x ^= x >> 29;
        return (int)(x & 0x7FFFFFFF);
    }

    /// <summary>One long-lived thread that runs one work item at a time, waited for with a time limit.</summary>
    private sealed class Executor : IDisposable
    {
        private readonly Thread thread;
        private readonly AutoResetEvent go = new(false), done = new(false);
        private Action? work;
        private bool stopping;

        public Executor()
        {
            thread = new Thread(Loop) { IsBackground = true, Name = "fuzz-executor" };
            thread.Start();
        }

        public bool TryRun(Action item, TimeSpan limit)
        {
            work = item;
            go.Set();
            return done.WaitOne(limit);
        }

        private void Loop()
        {
            while (true)
            {
                go.WaitOne();
                if (stopping) return;
                work!();
                done.Set();
            }
        }

        public void Dispose()
        {
            stopping = true;
            go.Set();
        }
    }
}
