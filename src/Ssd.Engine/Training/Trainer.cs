using Ssd.Engine.Backends;
using Ssd.Engine.Graph;
using Ssd.Engine.Network;
using Ssd.Engine.Training.Loss;
using Ssd.Engine.Training.Optim;
using Ssd.Weights.Model;

namespace Ssd.Engine.Training;

/// <summary>What one optimizer step saw: its number (from 1), the loss before the update, the rate it used.</summary>
public sealed record TrainStepResult(long Step, MultiBoxLossResult Loss, double Lr, TimeSpan Elapsed)
{
    /// <summary>With <see cref="Trainer.ClipGradientNorm"/> set: the total L2 norm of the optimizer's gradients before
    /// clipping (what torch.nn.utils.clip_grad_norm_ returns); null when clipping is off.</summary>
    public float? GradNorm { get; init; }
}

/// <summary>
/// One SSD training step on the engine, as the paper's loop runs it: forward the batch, the flavour's MultiBox loss
/// and its gradients (<see cref="MultiBoxLoss"/>), backward through every layer (<see cref="SsdNetwork.Backward"/>),
/// every parameter's gradient read back, <see cref="TrainingGuard"/>'s checks, the optimizer's update of the model's
/// own weight arrays (<see cref="ModelWeights"/>, shared with any network loaded from them) after the optional
/// gradient clipping (<see cref="ClipGradientNorm"/>), and the weights made
/// visible to the next forward pass (<see cref="SsdNetwork.InvalidateWeights"/>). A non-finite loss or gradient throws
/// <see cref="NonFiniteLossException"/> before the update, so the weights are those after the last good step.
/// The network belongs to the trainer; the backend and the weights to the caller.
/// </summary>
public sealed class Trainer : IDisposable
{
    /// <summary>The training-mode network (owned by the trainer): at <see cref="Batch"/>, or at 1 when the step runs
    /// <see cref="ImageByImage"/>.</summary>
    public SsdNetwork Network { get; }
    /// <summary>The flavour's loss.</summary>
    public MultiBoxLoss Loss { get; }
    /// <summary>The optimizer over <see cref="Parameters"/>.</summary>
    public Optimizer Optimizer { get; }

    /// <summary>The parameters the optimizer updates, in backward order: each a model tensor and its gradient.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>Images per step.</summary>
    public int Batch { get; }

    /// <summary>
    /// Whether a step runs its images one after the other through a batch-1 network, summing their parameter
    /// gradients: the same step (up to the order of the sums) in an eighth of batch 8's activation memory. Chosen where
    /// the backend runs batches image by image (<see cref="IBackend.RunsImageByImage"/>) and the flavour's loss of an
    /// image needs no other image's outputs (all but ssd.pytorch, whose mining shifts by the batch's largest logit).
    /// </summary>
    public bool ImageByImage => Network.Batch != Batch;

    /// <summary>Optimizer steps taken.</summary>
    public long Steps { get; private set; }

    /// <summary>
    /// Gradient clipping by total norm before each update, as torch.nn.utils.clip_grad_norm_(params, N) with the
    /// optimizer's parameters (<see cref="GradientClipping.ClipByNorm"/>): the L2 norm of all their gradients as one
    /// vector, every gradient multiplied by min(1, N / (norm + 1e-6)). Applied after
    /// <see cref="TrainingGuard.CheckGradients"/>, so the norm is finite. Null (the default): no clipping.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive and finite.</exception>
    public double? ClipGradientNorm
    {
        get => clipGradientNorm;
        set
        {
            if (value is { } v && !(v > 0 && double.IsFinite(v)))
                throw new ArgumentOutOfRangeException(nameof(value), v, "the gradient norm to clip at must be positive and finite");
            clipGradientNorm = value;
        }
    }

    private double? clipGradientNorm;

    /// <summary>Resuming from a checkpoint: the optimizer steps already taken (the optimizer's own state is restored by
    /// <see cref="Optimizer.ImportState"/>).</summary>
    public void ResumeAt(long steps)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(steps);
        Steps = steps;
    }

    /// <summary>A bench's stopwatch over the step's phases (null: none kept).</summary>
    internal StepPhases? Phases { get; set; }

    private readonly PlanValue[] gradients;
    private readonly float[] locGrad, confGrad;

    private Trainer(SsdNetwork network, int batch, MultiBoxLoss loss, Optimizer optimizer, IReadOnlyList<Parameter> parameters, PlanValue[] gradients)
    {
        (Network, Batch, Loss, Optimizer, Parameters, this.gradients) = (network, batch, loss, optimizer, parameters, gradients);
        locGrad = new float[network.Plan.Loc.Count];
        confGrad = new float[network.Plan.Backward!.LossConf.Count];
    }

    /// <summary>
    /// Loads <paramref name="model"/> for training at its input size and <paramref name="batch"/> on
    /// <paramref name="backend"/>, with the flavour's loss on the engine's priors and the optimizer
    /// <paramref name="optimizer"/> builds over the trainable parameters (e.g.
    /// <c>ps =&gt; new Sgd(ParameterGroup.Single(ps, 1e-3, 5e-4), momentum: 0.9)</c>).
    /// </summary>
    public static Trainer Create(ModelDescription model, ModelWeights weights, IBackend backend, int batch,
        Func<IReadOnlyList<Parameter>, Optimizer> optimizer, MultiBoxLossOptions? lossOptions = null) =>
        Create(model, weights, backend, batch, optimizer, lossOptions, imageByImage: null);

    /// <summary><paramref name="imageByImage"/>: force the step's path (null: as <see cref="ImageByImage"/> says).</summary>
    internal static Trainer Create(ModelDescription model, ModelWeights weights, IBackend backend, int batch,
        Func<IReadOnlyList<Parameter>, Optimizer> optimizer, MultiBoxLossOptions? lossOptions, bool? imageByImage)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        int networkBatch = (imageByImage ?? backend.RunsImageByImage) ? 1 : batch;
        var network = SsdNetwork.Load(model, weights, backend, batch: networkBatch, mode: PlanMode.Training);
        try
        {
            var loss = MultiBoxLoss.Create(model.Flavor, network.Priors.Flat, model.PostProcess.NumClasses, lossOptions);
            if (networkBatch != batch && !loss.ImagesIndependent)
            {
                if (imageByImage == true) throw new ArgumentException($"{model.Flavor}: an image's loss needs the whole batch's outputs, so its step cannot run image by image");
                network.Dispose();
                network = SsdNetwork.Load(model, weights, backend, batch: batch, mode: PlanMode.Training);
            }
            var found = network.ParameterGradients;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (name, _) in found)
                if (!seen.Add(name)) throw new NotSupportedException($"tensor '{name}' is read by more than one layer; shared weights do not train yet");
            var parameters = found.Select(f => new Parameter(f.Name, weights.Shape(f.Name), weights[f.Name])).ToArray();
            return new Trainer(network, batch, loss, optimizer(parameters), parameters, [.. found.Select(f => f.Gradient)]);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The loss of a batch (pre-processed NCHW input, one ground truth per image) and its gradients on the network's
    /// outputs, with no update: forward and loss only.
    /// </summary>
    public MultiBoxLossResult Evaluate(ReadOnlySpan<float> input, IReadOnlyList<GroundTruth> truths)
    {
        CheckBatch(input, truths, null);
        if (!ImageByImage)
        {
            var (loc, logits) = Network.TrainingForward(input);
            return Loss.Compute(loc, logits, truths, locGrad, confGrad);
        }
        var batch = Loss.MatchBatch(truths);
        var images = new ImageLoss[Batch];
        for (int i = 0; i < Batch; i++) images[i] = ImageForward(batch, input, i);
        return batch.Result(images);
    }

    /// <summary>Image <paramref name="i"/> of a matched batch through the batch-1 network: its forward, its share of the
    /// loss, and that share's gradients on its outputs in locGrad / confGrad.</summary>
    private ImageLoss ImageForward(MultiBoxLoss.MatchedBatch batch, ReadOnlySpan<float> input, int i)
    {
        int per = checked((int)Network.Plan.Input.Count);
        var (loc, logits) = Network.TrainingForward(input.Slice(i * per, per));
        Phases?.Lap(StepPhase.Forward);
        var image = Loss.ImageTerms(batch, i, loc, logits, locGrad, confGrad);
        Phases?.Lap(StepPhase.Loss);
        return image;
    }

    /// <summary>
    /// One training step on a batch: forward, loss, backward, the guard, the clipping if on, the update. <paramref name="imageNames"/>
    /// (one per image) name the images when the step stops on a non-finite loss.
    /// </summary>
    public TrainStepResult Step(ReadOnlySpan<float> input, IReadOnlyList<GroundTruth> truths, IReadOnlyList<string> imageNames)
    {
        CheckBatch(input, truths, imageNames);
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        Phases?.Start(start);
        long step = Steps + 1;
        var result = ImageByImage ? ForwardBackwardImageByImage(step, input, truths, imageNames) : ForwardBackward(step, input, truths, imageNames);
        TrainingGuard.CheckGradients(step, Parameters, result, imageNames);
        Phases?.Lap(StepPhase.Guard);
        float? norm = ClipGradientNorm is { } max ? GradientClipping.ClipByNorm(Optimizer.Parameters, max, Optimizer.Cpu) : null;
        double lr = Optimizer.Groups[0].Lr;
        Optimizer.Step();
        Phases?.Lap(StepPhase.Optimizer);
        Network.InvalidateWeights();
        Phases?.Lap(StepPhase.Refresh);
        Steps = step;
        return new TrainStepResult(step, result, lr, System.Diagnostics.Stopwatch.GetElapsedTime(start)) { GradNorm = norm };
    }

    /// <summary>The batch at once: forward, loss, the loss guard, backward, the gradients read.</summary>
    private MultiBoxLossResult ForwardBackward(long step, ReadOnlySpan<float> input, IReadOnlyList<GroundTruth> truths, IReadOnlyList<string> imageNames)
    {
        var (loc, logits) = Network.TrainingForward(input);
        Phases?.Lap(StepPhase.Forward);
        var result = Loss.Compute(loc, logits, truths, locGrad, confGrad);
        Phases?.Lap(StepPhase.Loss);
        TrainingGuard.CheckLoss(step, result, imageNames);
        Phases?.Lap(StepPhase.Guard);
        Network.Backward(locGrad, confGrad);
        Phases?.Lap(StepPhase.Backward);
        for (int i = 0; i < Parameters.Count; i++) Network.ReadGradient(gradients[i], Parameters[i].Grad);
        Phases?.Lap(StepPhase.GradientReads);
        return result;
    }

    /// <summary>
    /// The batch image by image: the matching (and so N) of the whole batch first, since it needs no network output;
    /// then per image its forward, its share of the loss and its gradients (already divided by the batch's N), its
    /// backward, its parameter gradients added to the batch's. Once an image's share is not finite the rest only run
    /// forward, so the loss guard names every such image, as the batch path does.
    /// </summary>
    private MultiBoxLossResult ForwardBackwardImageByImage(long step, ReadOnlySpan<float> input, IReadOnlyList<GroundTruth> truths, IReadOnlyList<string> imageNames)
    {
        var batch = Loss.MatchBatch(truths);
        Phases?.Lap(StepPhase.Loss);
        var images = new ImageLoss[Batch];
        bool finite = true;
        for (int i = 0; i < Batch; i++)
        {
            images[i] = ImageForward(batch, input, i);
            finite &= images[i].IsFinite;
            if (!finite) continue;
            Network.Backward(locGrad, confGrad);
            Phases?.Lap(StepPhase.Backward);
            for (int k = 0; k < Parameters.Count; k++)
            {
                var grad = Parameters[k].Grad;
                if (i == 0) { Network.ReadGradient(gradients[k], grad); continue; }
                Network.AddGradient(gradients[k], grad, Optimizer.Cpu.ResolvedIsa);
                Phases?.Lap(StepPhase.GradientSums);
            }
            Phases?.Lap(StepPhase.GradientReads);
        }
        var result = batch.Result(images);
        TrainingGuard.CheckLoss(step, result, imageNames);
        Phases?.Lap(StepPhase.Guard);
        return result;
    }

    private void CheckBatch(ReadOnlySpan<float> input, IReadOnlyList<GroundTruth> truths, IReadOnlyList<string>? names)
    {
        ArgumentNullException.ThrowIfNull(truths);
        if (truths.Count != Batch) throw new ArgumentException($"trainer: {truths.Count} ground truths for a batch of {Batch}");
        if (names is not null && names.Count != Batch) throw new ArgumentException($"trainer: {names.Count} image names for a batch of {Batch}");
        long expected = Batch * Network.Plan.Input.Count / Network.Batch;
        if (input.Length != expected) throw new ArgumentException($"trainer: the input holds {input.Length} floats, a batch of {Batch} needs {expected}");
    }

    /// <summary>Disposes the network (not the backend or the weights).</summary>
    public void Dispose() => Network.Dispose();
}

/// <summary>The phases of a training step a bench times (<see cref="StepPhases"/>).</summary>
internal enum StepPhase { Forward, Loss, Backward, GradientReads, GradientSums, Guard, Optimizer, Refresh }

/// <summary>Stopwatch time per <see cref="StepPhase"/>, summed over the steps a trainer ran with it set.</summary>
internal sealed class StepPhases
{
    private long last;

    /// <summary>Ticks (<see cref="System.Diagnostics.Stopwatch.Frequency"/> per second) per phase.</summary>
    public long[] Ticks { get; } = new long[Enum.GetValues<StepPhase>().Length];

    /// <summary>The step begins.</summary>
    public void Start(long timestamp) => last = timestamp;

    /// <summary>The time since the last lap goes to <paramref name="phase"/>.</summary>
    public void Lap(StepPhase phase)
    {
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        Ticks[(int)phase] += now - last;
        last = now;
    }

    /// <summary>Forgets the times so far.</summary>
    public void Clear() => Array.Clear(Ticks);
}
