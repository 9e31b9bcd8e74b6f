using System.Globalization;
using Ssd.Engine.Training.Optim;

namespace Ssd.Cli.Training;

/// <summary>
/// The learning-rate schedule of a run (`--schedule constant|multistep:M1,M2|cosine`, `--warmup-steps W`): torch's
/// schedulers through <see cref="LrSchedule"/>, with milestones in steps or as fractions of the run (0.67 = two thirds
/// of its steps). With a step limit (--steps, --epochs) the schedule is known from the start. With a time budget
/// (--max-minutes) a schedule that needs the run's length (cosine, fractional milestones) spans the budget: the rate
/// stays the warm-up's (then the base rate) until <see cref="ProbeStep"/>; from there the schedule follows its
/// <see cref="Progress"/>, a fraction of the budget's schedule done that each step moves on by its share of the
/// steps still to come, as the pace so far estimates them after every step. So a pace that changes during the run
/// moves the schedule on smoothly, and the budget's last step takes the progress to 1 (a cosine at its minimum)
/// however fast the machine ran. The progress travels in the checkpoint, so a resumed run goes on from it.
/// </summary>
public sealed class RunSchedule
{
    private readonly Optimizer optimizer;
    private readonly ScheduleKind kind;
    private readonly double[]? milestones;
    private readonly LrSchedule steps;

    /// <summary>The run's length in steps when it is known from the start (a step limit); null with a budget.</summary>
    public long? Total { get; }

    /// <summary>The step after which a time budget's schedule starts (0: the schedule needs no budget).</summary>
    public long ProbeStep { get; }

    /// <summary>With a time budget, once started: the fraction of the schedule done, from 0 (the rate at the base) to
    /// 1 (the end: a cosine's 0, every milestone passed); null before <see cref="Begin"/>.</summary>
    public double? Progress { get; private set; }

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

    /// <summary>After each optimizer step. With a budget's schedule started, <paramref name="stepsLeft"/> is the
    /// estimate of the steps that still fit the budget after this one (0: this was the last).</summary>
    public void Step(double stepsLeft = 0)
    {
        steps.Step();
        if (Progress is not { } f) return;
        Progress = f = Math.Min(1, f + (1 - f) / (Math.Max(0, stepsLeft) + 1));
        double factor = kind == ScheduleKind.Cosine
            ? (1 + Math.Cos(Math.PI * f)) / 2
            : Math.Pow(0.1, milestones!.Count(m => m <= f));
        foreach (var g in optimizer.Groups) g.Lr = g.InitialLr * factor;
    }

    /// <summary>At <see cref="ProbeStep"/> (at 0), or on resume (at the checkpoint's progress): the budget's schedule
    /// starts; the rate is the base rate's until the next <see cref="Step"/>.</summary>
    public void Begin(double progress = 0)
    {
        if (ProbeStep == 0 || Progress is not null) throw new InvalidOperationException("schedule: no time budget's schedule to start");
        if (!(progress >= 0 && progress <= 1)) throw new InvalidDataException($"schedule: progress {progress} is not in [0, 1]");
        Progress = progress;
    }

    public string? MainState => steps.Main?.ExportState();
    public string? WarmupState => steps.Warmup?.ExportState();

    /// <summary>Restores the schedulers' counters (after the optimizer's state, which holds the current rates).</summary>
    public void Import(string? main, string? warmup)
    {
        if (main is not null) (steps.Main ?? throw new InvalidDataException("a scheduler state for a constant schedule")).ImportState(main);
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
