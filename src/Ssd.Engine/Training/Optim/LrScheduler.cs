using System.Text.Json;

namespace Ssd.Engine.Training.Optim;

/// <summary>
/// A learning-rate scheduler as torch.optim.lr_scheduler computes it (1.13, the chainable form): each Step
/// advances LastEpoch and sets every group's rate from its current rate (so schedulers stepped on the same
/// optimizer compose), in double as torch's Python does. Constructing one takes torch's initial step (LastEpoch 0).
/// </summary>
public abstract class LrScheduler
{
    /// <summary>The optimizer whose group rates this scheduler sets.</summary>
    public Optimizer Optimizer { get; }

    /// <summary>The groups' InitialLr (torch's base_lrs).</summary>
    public double[] BaseLrs { get; }

    /// <summary>torch's last_epoch: 0 after construction, +1 per Step.</summary>
    public int LastEpoch { get; private set; } = -1;

    /// <summary>torch's _step_count: 1 after construction.</summary>
    public int StepCount { get; private set; }

    /// <summary>The scheduler's name in a checkpoint ("linear", "multistep", "cosine").</summary>
    public abstract string Kind { get; }

    private protected LrScheduler(Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        Optimizer = optimizer;
        BaseLrs = optimizer.Groups.Select(g => g.InitialLr).ToArray();
    }

    /// <summary>torch's _initial_step, called by the subclass constructors once their fields are set.</summary>
    private protected void InitialStep() => Step();

    /// <summary>Advances one step (torch's scheduler.step()): every group's rate is updated from its current one.</summary>
    public void Step()
    {
        StepCount++;
        LastEpoch++;
        var lrs = Optimizer.Groups.Select((g, i) => Lr(g.Lr, BaseLrs[i])).ToArray();
        for (int i = 0; i < lrs.Length; i++) Optimizer.Groups[i].Lr = lrs[i];
    }

    /// <summary>get_lr for one group: its new rate from its current rate and base rate.</summary>
    private protected abstract double Lr(double current, double baseLr);

    /// <summary>The counters for a checkpoint (the groups' current rates travel with the optimizer's state).</summary>
    public string ExportState() => JsonSerializer.Serialize(new { kind = Kind, lastEpoch = LastEpoch, stepCount = StepCount });

    /// <summary>Restores the counters written by <see cref="ExportState"/>.</summary>
    /// <param name="json">The exported state.</param>
    /// <exception cref="InvalidDataException">The JSON is malformed or belongs to another kind of scheduler.</exception>
    public void ImportState(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var r = doc.RootElement;
            if (r.GetProperty("kind").GetString() != Kind) throw new InvalidDataException($"lr scheduler state: it is {r.GetProperty("kind").GetString()}'s, this scheduler is {Kind}");
            int last = r.GetProperty("lastEpoch").GetInt32(), count = r.GetProperty("stepCount").GetInt32();
            if (last < 0 || count < 1) throw new InvalidDataException($"lr scheduler state: last epoch {last}, step count {count}");
            LastEpoch = last;
            StepCount = count;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"lr scheduler state: {e.Message}", e);
        }
    }
}

/// <summary>
/// torch's LinearLR: the rate goes linearly from start_factor x base to end_factor x base over total_iters steps
/// (the warm-up of torchvision's detection reference: start 1/1000, end 1).
/// </summary>
public sealed class LinearLr : LrScheduler
{
    /// <summary>The factor of the base rate at the first step.</summary>
    public double StartFactor { get; }
    /// <summary>The factor reached after <see cref="TotalIters"/> steps.</summary>
    public double EndFactor { get; }
    /// <summary>The steps of the linear ramp.</summary>
    public int TotalIters { get; }

    /// <summary>torch LinearLR: the rate ramps linearly from startFactor to endFactor times the base rate over totalIters steps.</summary>
    /// <param name="optimizer">The optimizer.</param>
    /// <param name="startFactor">The first factor, in (0, 1].</param>
    /// <param name="endFactor">The last factor, in [0, 1].</param>
    /// <param name="totalIters">The ramp's steps, at least 1.</param>
    /// <exception cref="ArgumentException">A factor or the step count is out of range.</exception>
    public LinearLr(Optimizer optimizer, double startFactor = 1.0 / 3, double endFactor = 1.0, int totalIters = 5) : base(optimizer)
    {
        if (!(startFactor > 0 && startFactor <= 1)) throw new ArgumentException($"linear lr: start factor {startFactor} is not in (0, 1]");
        if (!(endFactor >= 0 && endFactor <= 1)) throw new ArgumentException($"linear lr: end factor {endFactor} is not in [0, 1]");
        if (totalIters < 1) throw new ArgumentException($"linear lr: {totalIters} iterations");
        (StartFactor, EndFactor, TotalIters) = (startFactor, endFactor, totalIters);
        InitialStep();
    }

    /// <inheritdoc/>
    public override string Kind => "linear";

    private protected override double Lr(double current, double baseLr)
    {
        if (LastEpoch == 0) return current * StartFactor;
        if (LastEpoch > TotalIters) return current;
        return current * (1.0 + (EndFactor - StartFactor) / (TotalIters * StartFactor + (LastEpoch - 1) * (EndFactor - StartFactor)));
    }
}

/// <summary>torch's MultiStepLR: the rate times gamma^(count of the milestone) when LastEpoch reaches a milestone.</summary>
public sealed class MultiStepLr : LrScheduler
{
    /// <summary>The steps at which the rate is multiplied by <see cref="Gamma"/>, increasing.</summary>
    public IReadOnlyList<int> Milestones { get; }
    /// <summary>The factor at each milestone.</summary>
    public double Gamma { get; }

    /// <summary>torch MultiStepLR.</summary>
    /// <param name="optimizer">The optimizer.</param>
    /// <param name="milestones">The steps at which the rate changes, each at least 1.</param>
    /// <param name="gamma">The factor at each.</param>
    /// <exception cref="ArgumentException">A milestone is not positive, or gamma is not a positive finite number.</exception>
    public MultiStepLr(Optimizer optimizer, IEnumerable<int> milestones, double gamma = 0.1) : base(optimizer)
    {
        Milestones = milestones.OrderBy(m => m).ToArray();
        if (Milestones.Any(m => m < 1)) throw new ArgumentException("multistep lr: milestones must be positive steps");
        if (!(gamma > 0 && double.IsFinite(gamma))) throw new ArgumentException($"multistep lr: gamma {gamma}");
        Gamma = gamma;
        InitialStep();
    }

    /// <inheritdoc/>
    public override string Kind => "multistep";

    private protected override double Lr(double current, double baseLr)
    {
        int count = Milestones.Count(m => m == LastEpoch);
        return count == 0 ? current : current * Math.Pow(Gamma, count);
    }
}

/// <summary>torch's CosineAnnealingLR (the recursive form, which it steps by; not the closed form).</summary>
public sealed class CosineAnnealingLr : LrScheduler
{
    /// <summary>The half period in steps: the rate reaches <see cref="EtaMin"/> after it.</summary>
    public int TMax { get; }
    /// <summary>The lowest rate.</summary>
    public double EtaMin { get; }

    /// <summary>torch CosineAnnealingLR (the chainable form).</summary>
    /// <param name="optimizer">The optimizer.</param>
    /// <param name="tMax">The half period in steps, at least 1.</param>
    /// <param name="etaMin">The lowest rate, finite, at least 0.</param>
    /// <exception cref="ArgumentException">tMax is not positive, or etaMin is negative or not finite.</exception>
    public CosineAnnealingLr(Optimizer optimizer, int tMax, double etaMin = 0) : base(optimizer)
    {
        if (tMax < 1) throw new ArgumentException($"cosine lr: T_max {tMax}");
        if (!(etaMin >= 0 && double.IsFinite(etaMin))) throw new ArgumentException($"cosine lr: eta_min {etaMin}");
        (TMax, EtaMin) = (tMax, etaMin);
        InitialStep();
    }

    /// <inheritdoc/>
    public override string Kind => "cosine";

    private protected override double Lr(double current, double baseLr)
    {
        int e = LastEpoch;
        if (e == 0) return current;
        if (StepCount == 1 && e > 0) return EtaMin + (baseLr - EtaMin) * (1 + Math.Cos(e * Math.PI / TMax)) / 2;
        if ((e - 1 - TMax) % (2 * TMax) == 0) return current + (baseLr - EtaMin) * (1 - Math.Cos(Math.PI / TMax)) / 2;
        return (1 + Math.Cos(Math.PI * e / TMax)) / (1 + Math.Cos(Math.PI * (e - 1) / TMax)) * (current - EtaMin) + EtaMin;
    }
}

/// <summary>The schedules the trainer offers (`--schedule constant|multistep:S1,S2|cosine`).</summary>
public enum ScheduleKind
{
    /// <summary>The initial rate throughout (after any warm-up).</summary>
    Constant,
    /// <summary>torch MultiStepLR: the rate times gamma at each milestone.</summary>
    MultiStep,
    /// <summary>torch CosineAnnealingLR over the whole run, down to 0.</summary>
    Cosine,
}

/// <summary>
/// A training schedule: the main scheduler chained with an optional torch LinearLR warm-up (torchvision's detection
/// reference: start factor 1/1000, end 1). As in that reference the main scheduler is made first and the warm-up
/// second; after every optimizer step the warm-up steps, then the main one. Constant has no main scheduler.
/// Steps count optimizer steps (milestones and the cosine period too).
/// </summary>
public sealed class LrSchedule
{
    /// <summary>The main scheduler (null for a constant rate).</summary>
    public LrScheduler? Main { get; }
    /// <summary>The LinearLR warm-up (null without one).</summary>
    public LrScheduler? Warmup { get; }

    /// <summary>A schedule of <paramref name="kind"/> with an optional warm-up.</summary>
    /// <param name="optimizer">The optimizer.</param>
    /// <param name="kind">Constant, multistep or cosine.</param>
    /// <param name="totalSteps">The run's optimizer steps (cosine's period).</param>
    /// <param name="milestones">Multistep's milestones, in optimizer steps.</param>
    /// <param name="gamma">Multistep's factor.</param>
    /// <param name="warmupSteps">The warm-up's steps (0: none).</param>
    /// <param name="warmupFactor">The warm-up's start factor.</param>
    /// <exception cref="ArgumentException">A kind lacks what it needs (milestones, total steps) or a count is negative.</exception>
    public LrSchedule(Optimizer optimizer, ScheduleKind kind, int totalSteps = 0, IEnumerable<int>? milestones = null, double gamma = 0.1,
        int warmupSteps = 0, double warmupFactor = 1.0 / 1000)
    {
        if (warmupSteps < 0) throw new ArgumentException($"schedule: {warmupSteps} warm-up steps");
        Main = kind switch
        {
            ScheduleKind.Constant => null,
            ScheduleKind.MultiStep => new MultiStepLr(optimizer, milestones ?? throw new ArgumentException("schedule: multistep needs milestones"), gamma),
            ScheduleKind.Cosine => new CosineAnnealingLr(optimizer, totalSteps > 0 ? totalSteps : throw new ArgumentException("schedule: cosine needs the total steps")),
            _ => throw new ArgumentException($"schedule: unknown kind {kind}"),
        };
        if (warmupSteps > 0) Warmup = new LinearLr(optimizer, warmupFactor, 1.0, warmupSteps);
    }

    /// <summary>After each optimizer step.</summary>
    public void Step()
    {
        Warmup?.Step();
        Main?.Step();
    }
}
