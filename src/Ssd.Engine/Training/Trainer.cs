using Ssd.Engine.Backends;
using Ssd.Engine.Graph;
using Ssd.Engine.Network;
using Ssd.Engine.Training.Loss;
using Ssd.Engine.Training.Optim;
using Ssd.Weights.Model;

namespace Ssd.Engine.Training;

/// <summary>What one optimizer step saw: its number (from 1), the loss before the update, the rate it used.</summary>
public sealed record TrainStepResult(long Step, MultiBoxLossResult Loss, double Lr, TimeSpan Elapsed);

/// <summary>
/// One SSD training step on the engine, as the paper's loop runs it: forward the batch, the flavour's MultiBox loss
/// and its gradients (<see cref="MultiBoxLoss"/>), backward through every layer (<see cref="SsdNetwork.Backward"/>),
/// every parameter's gradient read back, <see cref="TrainingGuard"/>'s checks, the optimizer's update of the model's
/// own weight arrays (<see cref="ModelWeights"/>, shared with any network loaded from them), and the weights made
/// visible to the next forward pass (<see cref="SsdNetwork.InvalidateWeights"/>). A non-finite loss or gradient throws
/// <see cref="NonFiniteLossException"/> before the update, so the weights are those after the last good step.
/// The network belongs to the trainer; the backend and the weights to the caller.
/// </summary>
public sealed class Trainer : IDisposable
{
    /// <summary>The training-mode network (owned by the trainer).</summary>
    public SsdNetwork Network { get; }
    /// <summary>The flavour's loss.</summary>
    public MultiBoxLoss Loss { get; }
    /// <summary>The optimizer over <see cref="Parameters"/>.</summary>
    public Optimizer Optimizer { get; }

    /// <summary>The parameters the optimizer updates, in backward order: each a model tensor and its gradient.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>Optimizer steps taken.</summary>
    public long Steps { get; private set; }

    /// <summary>Resuming from a checkpoint: the optimizer steps already taken (the optimizer's own state is restored by
    /// <see cref="Optimizer.ImportState"/>).</summary>
    public void ResumeAt(long steps)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(steps);
        Steps = steps;
    }

    private readonly PlanValue[] gradients;
    private readonly float[] locGrad, confGrad;

    private Trainer(SsdNetwork network, MultiBoxLoss loss, Optimizer optimizer, IReadOnlyList<Parameter> parameters, PlanValue[] gradients)
    {
        (Network, Loss, Optimizer, Parameters, this.gradients) = (network, loss, optimizer, parameters, gradients);
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
        Func<IReadOnlyList<Parameter>, Optimizer> optimizer, MultiBoxLossOptions? lossOptions = null)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        var network = SsdNetwork.Load(model, weights, backend, batch: batch, mode: PlanMode.Training);
        try
        {
            var found = network.ParameterGradients;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (name, _) in found)
                if (!seen.Add(name)) throw new NotSupportedException($"tensor '{name}' is read by more than one layer; shared weights do not train yet");
            var parameters = found.Select(f => new Parameter(f.Name, weights.Shape(f.Name), weights[f.Name])).ToArray();
            var loss = MultiBoxLoss.Create(model.Flavor, network.Priors.Flat, model.PostProcess.NumClasses, lossOptions);
            return new Trainer(network, loss, optimizer(parameters), parameters, [.. found.Select(f => f.Gradient)]);
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
        CheckBatch(truths, null);
        var (loc, logits) = Network.TrainingForward(input);
        return Loss.Compute(loc, logits, truths, locGrad, confGrad);
    }

    /// <summary>
    /// One training step on a batch: forward, loss, backward, the guard, the update. <paramref name="imageNames"/>
    /// (one per image) name the images when the step stops on a non-finite loss.
    /// </summary>
    public TrainStepResult Step(ReadOnlySpan<float> input, IReadOnlyList<GroundTruth> truths, IReadOnlyList<string> imageNames)
    {
        CheckBatch(truths, imageNames);
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        long step = Steps + 1;
        var (loc, logits) = Network.TrainingForward(input);
        var result = Loss.Compute(loc, logits, truths, locGrad, confGrad);
        TrainingGuard.CheckLoss(step, result, imageNames);
        Network.Backward(locGrad, confGrad);
        for (int i = 0; i < Parameters.Count; i++) Network.ReadGradient(gradients[i], Parameters[i].Grad);
        TrainingGuard.CheckGradients(step, Parameters, result, imageNames);
        double lr = Optimizer.Groups[0].Lr;
        Optimizer.Step();
        Network.InvalidateWeights();
        Steps = step;
        return new TrainStepResult(step, result, lr, System.Diagnostics.Stopwatch.GetElapsedTime(start));
    }

    private void CheckBatch(IReadOnlyList<GroundTruth> truths, IReadOnlyList<string>? names)
    {
        ArgumentNullException.ThrowIfNull(truths);
        if (truths.Count != Network.Batch) throw new ArgumentException($"trainer: {truths.Count} ground truths for a batch of {Network.Batch}");
        if (names is not null && names.Count != Network.Batch) throw new ArgumentException($"trainer: {names.Count} image names for a batch of {Network.Batch}");
    }

    /// <summary>Disposes the network (not the backend or the weights).</summary>
    public void Dispose() => Network.Dispose();
}
