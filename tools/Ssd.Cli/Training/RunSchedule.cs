using System.Globalization;
using Ssd.Engine.Training.Optim;

namespace Ssd.Cli.Training;

/// <summary>
/// The learning-rate schedule of a run (`--schedule constant|multistep:M1,M2|cosine`, `--warmup-steps W`): torch's
/// schedulers through <see cref="LrSchedule"/>, with milestones in steps or as fractions of the run (0.67 = two thirds
/// of its steps). With a step limit (--steps, --epochs) the schedule is known from the start. With a time budget
/// (--max-minutes) a schedule that needs the run's length (cosine, fractional milestones) spans the budget: the rate
/// stays the warm-up's (then the base rate) until <see cref="ProbeStep"/>, where the steps that fit the rest of the
/// budget are estimated from the steps so far; the main scheduler then starts there and spans the estimated total,
/// at which the run ends (a cosine's rate has reached its minimum). The estimate and its step travel in the checkpoint,
/// so a resumed run rebuilds the same schedule.
/// </summary>
public sealed class RunSchedule
{
    private readonly Optimizer optimizer;
    private readonly ScheduleKind kind;
    private readonly double[]? milestones;
    private readonly LrSchedule steps;
    private LrScheduler? late;

    /// <summary>The run's length in steps: the limit, or the estimate once made; null while a budget's is not.</summary>
    public long? Total { get; private set; }

    /// <summary>The step after which a time budget's length is estimated (0: no estimate needed).</summary>
    public long ProbeStep { get; }

    /// <summary>Where the estimate was made (the main scheduler's first step), when one was.</summary>
    public long? EstimatedAt { get; private set; }

    public RunSchedule(Optimizer optimizer, ScheduleKind kind, double[]? milestones, int warmupSteps, long? totalSteps)
    {
        (this.optimizer, this.kind, this.milestones, Total) = (optimizer, kind, milestones, totalSteps);
        bool fractions = milestones is not null && milestones.Any(m => m < 1);
        if (totalSteps is { } total || !(kind == ScheduleKind.Cosine || fractions))
        {
            long known = totalSteps ?? 0;
            steps = new LrSchedule(optimizer, kind, kind == ScheduleKind.Cosine ? checked((int)known) : 0,
                milestones?.Select(m => Milestone(m, known)).Distinct().ToArray(), 0.1, warmupSteps);
            return;
        }
        steps = new LrSchedule(optimizer, ScheduleKind.Constant, warmupSteps: warmupSteps);
        ProbeStep = Math.Max(warmupSteps, 10);
    }

    /// <summary>A milestone in steps: itself, or its fraction of <paramref name="total"/> (at least step 1).</summary>
    private static int Milestone(double m, long total) => m >= 1 ? (int)m : (int)Math.Max(1, Math.Round(m * total));

    /// <summary>After each optimizer step.</summary>
    public void Step()
    {
        steps.Step();
        late?.Step();
    }

    /// <summary>At <see cref="ProbeStep"/> (or on resume, from the checkpoint): the run's length; the main scheduler
    /// starts after <paramref name="step"/> and spans the rest.</summary>
    public void Estimate(long step, long total)
    {
        if (ProbeStep == 0 || late is not null) throw new InvalidOperationException("schedule: no estimate to make");
        total = Math.Max(total, step + 1);
        (Total, EstimatedAt) = (total, step);
        late = kind == ScheduleKind.Cosine
            ? new CosineAnnealingLr(optimizer, checked((int)(total - step)))
            : new MultiStepLr(optimizer, milestones!.Select(m => (int)Math.Max(1, Milestone(m, total) - step)).Distinct(), 0.1);
    }

    public string? MainState => (late ?? steps.Main)?.ExportState();
    public string? WarmupState => steps.Warmup?.ExportState();

    /// <summary>Restores the schedulers' counters (after the optimizer's state, which holds the current rates).</summary>
    public void Import(string? main, string? warmup)
    {
        if (main is not null) (late ?? steps.Main ?? throw new InvalidDataException("a scheduler state for a constant schedule")).ImportState(main);
        if (warmup is not null) (steps.Warmup ?? throw new InvalidDataException("a warm-up state for a run without warm-up")).ImportState(warmup);
    }

    /// <summary>Parses `--schedule`: constant, cosine, or multistep:M1,M2 with increasing milestones, each a step
    /// number or a fraction of the run in (0, 1). Throws ArgumentException.</summary>
    public static (ScheduleKind Kind, double[]? Milestones) Parse(string text)
    {
        if (text == "constant") return (ScheduleKind.Constant, null);
        if (text == "cosine") return (ScheduleKind.Cosine, null);
        if (text.StartsWith("multistep:", StringComparison.Ordinal))
        {
            var parts = text["multistep:".Length..].Split(',');
            var values = new double[parts.Length];
            for (int i = 0; i < parts.Length; i++)
            {
                bool step = int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out int s) && s > 0;
                bool fraction = !step && double.TryParse(parts[i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double f) && f > 0 && f < 1;
                if (!step && !fraction) throw new ArgumentException($"'{parts[i]}' in '{text}' is not a positive step number or a fraction of the run in (0, 1)");
                values[i] = step ? s : double.Parse(parts[i], CultureInfo.InvariantCulture);
            }
            if (values.Any(v => v < 1) && values.Any(v => v >= 1)) throw new ArgumentException($"the milestones of '{text}' mix steps and fractions");
            if (values.Zip(values.Skip(1)).Any(p => p.Second <= p.First)) throw new ArgumentException($"the milestones of '{text}' must increase");
            return (ScheduleKind.MultiStep, values);
        }
        throw new ArgumentException($"'{text}' is not constant, multistep:S1,S2 or cosine");
    }
}
