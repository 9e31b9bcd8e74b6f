using System.Diagnostics;
using Ssd.Engine.Backends;
using Ssd.Engine.Graph;
using Ssd.Engine.Imaging;
using Ssd.Engine.Memory;
using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;
using Ssd.Kernels.Preprocess;
using Ssd.Weights.Model;
using Ssd.Weights.Tensors;

namespace Ssd.Engine.Network;

/// <summary>
/// A converted SSD model ready to run on a backend for one input size and batch: the plan, its arena (allocated on the
/// backend, owned by this network), one executor per step from the op registry (weights uploaded or packed once), and
/// the priors for that input size, computed on the backend and kept there. Forward uploads the NCHW input, runs every
/// step and downloads loc [N, P*4] and conf [N, P*C]. Any number of networks may share one backend (one device).
/// Not thread-safe (one arena).
/// </summary>
public sealed class SsdNetwork : IDisposable
{
    private readonly IBackend backend;
    private readonly DeviceBuffer arena;
    private readonly DeviceBuffer priors;
    private readonly List<IOpExecutor> executors = [];
    private readonly List<IOpExecutor> backward = [];
    private readonly HashSet<PlanValue> keptGradients = [];
    private LaunchPlan? plan;
    private readonly Dictionary<PlanValue, ArenaSlice> slices = [];
    private PriorBoxes? hostPriors;
    private long[] profileTicks = [], backwardTicks = [];
    private int profileRuns, backwardRuns;

    /// <summary>The model this network was planned from (at its input size).</summary>
    public ModelDescription Model { get; }

    /// <summary>The weights every step reads (shared with other networks loaded from the same <see cref="ModelWeights"/>).</summary>
    public ModelWeights Weights { get; }

    /// <summary>The steps in execution order, with every value's shape.</summary>
    public ExecutionPlan Plan { get; }

    /// <summary>Where each activation lives in the arena, and the arena's size.</summary>
    public MemoryPlan Memory { get; }

    /// <summary>Images per forward pass (the plan's batch).</summary>
    public int Batch => Plan.Batch;

    /// <summary>The input width in pixels.</summary>
    public int Width => Plan.Input.Shape[3];

    /// <summary>The input height in pixels.</summary>
    public int Height => Plan.Input.Shape[2];

    /// <summary>Classes including the background.</summary>
    public int NumClasses => Model.PostProcess.NumClasses;

    /// <summary>Default boxes at this input size.</summary>
    public int PriorCount { get; }

    /// <summary>The priors on the backend, in the flat layout the post-processors take (Caffe [2, P*4]: boxes then
    /// variances; the others [P, 4]). The device post-processing reads them in place.</summary>
    public DeviceSlice DevicePriors => priors.All;

    /// <summary>The priors on the host (downloaded once, on first use).</summary>
    public PriorBoxes Priors => hostPriors ??= DownloadPriors();

    /// <summary>The activation arena in bytes (every intermediate blob lives in it; weights are separate).</summary>
    public long ArenaBytes => Memory.ArenaSize * sizeof(float);

    /// <summary>
    /// Opt-in per-layer timing: while true, Forward (and a training plan's Backward) waits for each step (Synchronize,
    /// a no-op on the synchronous CPU backend) and adds its time to <see cref="LayerTimings"/> (and
    /// <see cref="BackwardTimings"/>). Off by default, since waiting after every step would stall an asynchronous (GPU)
    /// queue. Setting it clears the totals.
    /// </summary>
    public bool Profiling
    {
        get => profileTicks.Length > 0;
        set
        {
            (profileTicks, backwardTicks) = value ? (new long[executors.Count], new long[backward.Count]) : ([], []);
            profileRuns = backwardRuns = 0;
        }
    }

    /// <summary>
    /// Each backward entry's time over the <see cref="Backward"/> passes run since <see cref="Profiling"/> was set, in
    /// the order they run (a training plan's; empty otherwise): the entry and its total.
    /// </summary>
    public IReadOnlyList<(BackwardEntry Entry, TimeSpan Total, int Runs)> BackwardTimings =>
        [.. (Plan.Backward?.Entries ?? []).Select((e, i) => (e, Stopwatch.GetElapsedTime(0, i < backwardTicks.Length ? backwardTicks[i] : 0), backwardRuns))];

    /// <summary>Each step's time over the forward passes run since <see cref="Profiling"/> was set, in plan order.</summary>
    public IReadOnlyList<LayerTiming> LayerTimings =>
        [.. Plan.Steps.Select((s, i) => new LayerTiming(s, LayerTiming.OpOf(s),
            Stopwatch.GetElapsedTime(0, i < profileTicks.Length ? profileTicks[i] : 0), profileRuns))];

    private SsdNetwork(ModelDescription model, ModelWeights weights, ExecutionPlan plan, MemoryPlan memory, IBackend backend, DeviceBuffer arena,
        DeviceBuffer priors, int priorCount)
    {
        (Model, Weights, Plan, Memory, this.backend, this.arena, this.priors, PriorCount) = (model, weights, plan, memory, backend, arena, priors, priorCount);
    }

    /// <summary>
    /// Builds the plan for a width x height input (default: the model's) and batch, places the activations in one
    /// arena on the backend, creates the executors and computes the priors there. Blobs named in
    /// <paramref name="capture"/> stay readable after Forward (and keep their own storage, so a captured
    /// pre-activation value is not fused away). The backend is used, not owned.
    /// </summary>
    public static SsdNetwork Load(ModelDescription model, IReadOnlyDictionary<string, TensorData> tensors, IBackend backend,
        int? width = null, int? height = null, int batch = 1, IEnumerable<string>? capture = null) =>
        Load(model, ModelWeights.From(tensors), backend, width, height, batch, capture);

    /// <summary>
    /// As above, reading the weights from <paramref name="weights"/> (which several networks may share; edit them and
    /// call <see cref="InvalidateWeights"/>). <paramref name="mode"/> Training builds the training plan: its forward
    /// saves what backward reads, <see cref="Backward"/> replays the steps in reverse, and the gradients of the blobs
    /// named in <paramref name="keepGradients"/> stay readable (<see cref="ReadGradient(string)"/>).
    /// </summary>
    public static SsdNetwork Load(ModelDescription model, ModelWeights weights, IBackend backend,
        int? width = null, int? height = null, int batch = 1, IEnumerable<string>? capture = null,
        PlanMode mode = PlanMode.Inference, IEnumerable<string>? keepGradients = null)
    {
        var plan = PlanBuilder.Build(model, weights, width ?? model.Input.Width, height ?? model.Input.Height, batch, capture, mode);
        var kept = (keepGradients ?? []).Select(name => plan.Backward?.GradientOf(plan.Blob(name))
            ?? throw new ArgumentException($"blob '{name}' has no gradient{(plan.Backward is null ? " (an inference plan)" : " (nothing on the way to the loss reads it)")}")).ToList();
        // The loss reads the logits (before a trailing softmax): they stay readable after the forward pass.
        if (plan.Backward is { } trainingPlan) kept.Add(trainingPlan.LossConf);
        var layout = ArenaLayout.For(plan, kept);
        var request = PriorRequest.Create(model.Priors, plan);
        var priors = backend.Priors(request);
        DeviceBuffer? arena = null;
        SsdNetwork? network = null;
        try
        {
            int p = checked((int)(priors.Length / PriorBoxes.FlatFloatsPerPrior(request.Style))), c = model.PostProcess.NumClasses;
            if (plan.Loc.Count != (long)batch * p * 4)
                throw new InvalidDataException($"loc output '{plan.Loc.Name}' has shape {plan.Loc.ShapeText}, expected {batch} x {p} priors x 4");
            if (plan.Conf.Count != (long)batch * p * c)
                throw new InvalidDataException($"conf output '{plan.Conf.Name}' has shape {plan.Conf.ShapeText}, expected {batch} x {p} priors x {c} classes");

            arena = backend.Allocate(layout.Memory.ArenaSize);
            network = new SsdNetwork(model, weights, plan, layout.Memory, backend, arena, priors, p);
            foreach (var (v, slice) in layout.Slices) network.slices[v] = slice;
            network.keptGradients.UnionWith(kept);

            var context = backend.Context(arena);
            bool training = plan.Backward is not null;
            ArenaSlice[] Slices(IEnumerable<PlanValue> vs) => [.. vs.Select(v => network.slices[v])];
            foreach (var step in plan.Steps)
            {
                PlanValue[] outputs = training ? [step.Output, .. plan.Backward!.Saved[step]] : [step.Output];
                network.executors.Add(OpRegistry.Create(step, OpPass.Forward, new OpBinding(Slices(step.Inputs), Slices(outputs)), context, training: training));
            }
            foreach (var entry in plan.Backward?.Entries ?? [])
                network.backward.Add(entry switch
                {
                    BackwardStep b => OpRegistry.Create(b.Forward, OpPass.Backward,
                        new OpBinding(Slices([.. b.Reads, b.OutputGradient]), Slices([.. b.InputGradients, .. b.ParameterGradients])), context),
                    GradientSum g => OpRegistry.GradientSum(g.Parts.Length, g.Gradient.Count, new OpBinding(Slices(g.Parts), Slices([g.Gradient])), context),
                    _ => throw new InvalidOperationException($"unknown backward entry {entry}"),
                });
            // The launches are fixed now; on CUDA with graphs on, the plan captures them once and replays them.
            network.plan = backend is Backends.Ilgpu.IlgpuBackend ilgpu
                ? new LaunchPlan(network.executors, ilgpu.Stream, ilgpu.Options.CudaGraphs)
                : new LaunchPlan(network.executors);
            return network;
        }
        catch
        {
            if (network is not null) network.Dispose();
            else { arena?.Dispose(); priors.Dispose(); }
            throw;
        }
    }

    /// <summary>The arena in bytes that <c>Load</c> would allocate, without a backend (nothing is allocated).</summary>
    public static long PlannedArenaBytes(ModelDescription model, IReadOnlyDictionary<string, TensorData> tensors,
        int? width = null, int? height = null, int batch = 1, PlanMode mode = PlanMode.Inference) =>
        ArenaLayout.For(PlanBuilder.Build(model, tensors, width ?? model.Input.Width, height ?? model.Input.Height, batch, null, mode)).Memory.ArenaSize * sizeof(float);

    /// <summary>
    /// Makes the next forward pass see edited <see cref="Weights"/>: folded convolutions are folded again from the
    /// current values, and every executor rebuilds what it derived from its weights (packed panels, Winograd filters,
    /// device copies). The result is what a network freshly loaded with those weights computes, bit for bit.
    /// </summary>
    public void InvalidateWeights()
    {
        backend.Synchronize();
        // Only a plan with folded steps is built again (a training plan folds nothing: a step a training loop refreshes
        // after every update reads the weights' own arrays, so there is nothing to refill).
        if (ownsFoldedWeights ??= OwnsFoldedWeights())
        {
            var fresh = PlanBuilder.Build(Model, Weights, Width, Height, Batch, Plan.Pinned.Select(v => v.Name), Plan.Mode);
            for (int s = 0; s < Plan.Steps.Count; s++)
                if (Plan.Steps[s] is ConvStep old && fresh.Steps[s] is ConvStep now)
                {
                    // A folded step owns its arrays: refill them; an unfolded one reads the weights' own arrays.
                    if (!ReferenceEquals(old.Weight, now.Weight)) now.Weight.CopyTo(old.Weight, 0);
                    if (old.Bias is not null && now.Bias is not null && !ReferenceEquals(old.Bias, now.Bias)) now.Bias.CopyTo(old.Bias, 0);
                }
        }
        foreach (var e in executors.Concat(backward)) (e as IWeightedExecutor)?.RefreshWeights();
    }

    private bool? ownsFoldedWeights;

    /// <summary>Whether a convolution step holds an array that is not one of <see cref="Weights"/>' own (a folded copy).
    /// The arrays of <see cref="ModelWeights"/> are fixed, so the answer is too.</summary>
    private bool OwnsFoldedWeights()
    {
        var own = new HashSet<float[]>(Weights.Names.Select(n => Weights[n]), ReferenceEqualityComparer.Instance);
        return Plan.Steps.OfType<ConvStep>().Any(c => !own.Contains(c.Weight) || c.Bias is not null && !own.Contains(c.Bias));
    }

    /// <summary>Runs the network on an NCHW float input of Batch x C x Height x Width (already pre-processed).</summary>
    public SsdOutput Forward(ReadOnlySpan<float> input, IEnumerable<string>? capture = null)
    {
        Upload(input);
        return RunAndRead(capture);
    }

    /// <summary>
    /// Runs the network on Batch images pre-processed where the backend runs (on an ILGPU device: one pixel upload per
    /// image, the pre-processing kernels write straight into the input, and the host waits only for the loc / conf
    /// download; on the CPU backend the reference writes straight into the arena).
    /// </summary>
    public SsdOutput Forward(IReadOnlyList<RgbImage> images, PreprocessSettings settings, IEnumerable<string>? capture = null)
    {
        Preprocess(images, settings);
        return RunAndRead(capture);
    }

    /// <summary>
    /// Like <see cref="Forward(IReadOnlyList{RgbImage}, PreprocessSettings, IEnumerable{string}?)"/> but downloads
    /// nothing: loc [N, P*4] and conf [N, P*C] stay where the network ran (slices of its arena, valid until the next
    /// Forward), for the device post-processing. The work is queued on the backend.
    /// </summary>
    public (DeviceSlice Loc, DeviceSlice Conf) ForwardOnDevice(IReadOnlyList<RgbImage> images, PreprocessSettings settings)
    {
        Preprocess(images, settings);
        return RunOnDevice();
    }

    /// <summary>Uploads a pre-processed NCHW input and runs the network, leaving loc / conf on the device (see the overload above).</summary>
    public (DeviceSlice Loc, DeviceSlice Conf) ForwardOnDevice(ReadOnlySpan<float> input)
    {
        Upload(input);
        return RunOnDevice();
    }

    private void Upload(ReadOnlySpan<float> input)
    {
        if (input.Length != Plan.Input.Count)
            throw new ArgumentException($"input has {input.Length} floats, the network expects {Plan.Input.ShapeText} = {Plan.Input.Count}");
        backend.Upload(input, Slice(Plan.Input));
    }

    private void Preprocess(IReadOnlyList<RgbImage> images, PreprocessSettings settings)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(settings);
        if (images.Count != Batch) throw new ArgumentException($"{images.Count} images for a network planned for a batch of {Batch}");
        if (settings.Width != Width || settings.Height != Height)
            throw new ArgumentException($"pre-processing to {settings.Width}x{settings.Height} for a network input of {Width}x{Height}");
        backend.Preprocess(images, settings, Slice(Plan.Input));
    }

    private DeviceSlice Slice(PlanValue v) => arena.Slice(slices[v]);

    /// <summary>
    /// Training plans: replays the forward steps backward in reverse plan order from the loss's gradients, d loss / d loc
    /// [N, P*4] and d loss / d conf [N, P*C] (of the logits when the graph ends in a softmax, see
    /// <see cref="BackwardPlan.LossConf"/>), on the values the last forward pass left.
    /// </summary>
    public void Backward(ReadOnlySpan<float> dLoc, ReadOnlySpan<float> dConf)
    {
        var b = Plan.Backward ?? throw new InvalidOperationException("this network was loaded for inference; load it with PlanMode.Training to run backward");
        backend.Upload(dLoc, Slice(b.LocGradient));
        backend.Upload(dConf, Slice(b.ConfGradient));
        if (backwardTicks.Length == 0)
        {
            foreach (var e in backward) e.Run();
            return;
        }
        RunTimed(backward, backwardTicks);
        backwardRuns++;
    }

    /// <summary>
    /// Training plans: the forward pass on a pre-processed NCHW input, returning what the loss reads: loc [N, P*4] and
    /// the confidences as logits [N, P*C] (<see cref="BackwardPlan.LossConf"/>: before a trailing softmax).
    /// </summary>
    public (float[] Loc, float[] Logits) TrainingForward(ReadOnlySpan<float> input)
    {
        var b = Plan.Backward ?? throw new InvalidOperationException("this network was loaded for inference; load it with PlanMode.Training to train");
        Upload(input);
        if (profileTicks.Length == 0) plan!.Run();
        else RunProfiled();
        return (Read(Plan.Loc), Read(b.LossConf));
    }

    /// <summary>
    /// The learned tensors backward writes a gradient for, by their names in <see cref="Weights"/> (a convolution's
    /// weight and bias, an L2Norm's scale), with the value holding each gradient after <see cref="Backward"/>.
    /// In a training plan nothing is folded, so each step reads the weights' own arrays.
    /// </summary>
    public IReadOnlyList<(string Name, PlanValue Gradient)> ParameterGradients => parameterGradients ??= FindParameterGradients();

    private IReadOnlyList<(string Name, PlanValue Gradient)>? parameterGradients;

    private List<(string Name, PlanValue Gradient)> FindParameterGradients()
    {
        var b = Plan.Backward ?? throw new InvalidOperationException("this network was loaded for inference: it has no parameter gradients");
        var names = new Dictionary<float[], string>(ReferenceEqualityComparer.Instance);
        foreach (var name in Weights.Names) names.TryAdd(Weights[name], name);
        var list = new List<(string, PlanValue)>();
        foreach (var step in b.Entries.OfType<BackwardStep>())
        {
            float[][] arrays = step.Forward switch
            {
                ConvStep c => c.Bias is null ? [c.Weight] : [c.Weight, c.Bias],
                NormalizeStep n => [n.Scale],
                _ => [],
            };
            if (arrays.Length != step.ParameterGradients.Length)
                throw new InvalidOperationException($"layer '{step.Forward.Layer}': its backward writes {step.ParameterGradients.Length} parameter gradients, the step holds {arrays.Length} parameters");
            for (int i = 0; i < arrays.Length; i++)
                list.Add((names.TryGetValue(arrays[i], out var n) ? n
                    : throw new InvalidOperationException($"layer '{step.Forward.Layer}': parameter {i} is not one of the model's tensors (folded?)"), step.ParameterGradients[i]));
        }
        return list;
    }

    /// <summary>Copies the gradient a <see cref="Backward"/> left in <paramref name="gradient"/> (one of
    /// <see cref="ParameterGradients"/>) into <paramref name="into"/>.</summary>
    public void ReadGradient(PlanValue gradient, float[] into) => ReadGradient(gradient, into.AsSpan());

    internal void ReadGradient(PlanValue gradient, Span<float> into)
    {
        if (into.Length != gradient.Count) throw new ArgumentException($"gradient '{gradient.Name}' holds {gradient.Count} floats, the array {into.Length}");
        backend.Download(Slice(gradient), into);
    }

    /// <summary>
    /// Adds the gradient a <see cref="Backward"/> left in <paramref name="gradient"/> onto <paramref name="into"/>
    /// (into[i] += gradient[i], one float add each): straight from the arena where it is host memory, else downloaded
    /// into a scratch array first.
    /// </summary>
    internal unsafe void AddGradient(PlanValue gradient, Span<float> into, CpuIsa isa)
    {
        if (into.Length != gradient.Count) throw new ArgumentException($"gradient '{gradient.Name}' holds {gradient.Count} floats, the array {into.Length}");
        var slice = Slice(gradient);
        ReadOnlySpan<float> add;
        if (slice.Buffer is HostBuffer) add = slice.Span;
        else
        {
            if (downloadScratch is null || downloadScratch.Length < into.Length) downloadScratch = new float[into.Length];
            backend.Download(slice, downloadScratch.AsSpan(0, into.Length));
            add = downloadScratch.AsSpan(0, into.Length);
        }
        fixed (float* dst = into, src = add) SimdMath.Add(dst, src, into.Length, isa);
    }

    private float[]? downloadScratch;

    /// <summary>The gradient of a blob after <see cref="Backward"/> (named in Load's keepGradients).</summary>
    public float[] ReadGradient(string blob)
    {
        var g = Plan.Backward?.GradientOf(Plan.Blob(blob));
        if (g is null || !keptGradients.Contains(g)) throw new ArgumentException($"the gradient of '{blob}' was not named in Load's keepGradients, so its memory is reused");
        return Read(g);
    }

    /// <summary>How the launches run: "off" (one by one), "replaying" (a captured CUDA graph), or why capture failed.</summary>
    public string GraphStatus => plan!.GraphStatus;

    private (DeviceSlice Loc, DeviceSlice Conf) RunOnDevice()
    {
        plan!.Run();
        return (Slice(Plan.Loc), Slice(Plan.Conf));
    }

    private SsdOutput RunAndRead(IEnumerable<string>? capture)
    {
        var wanted = (capture ?? []).Select(name =>
        {
            var v = Plan.Blob(name);
            if (!Plan.Pinned.Contains(v)) throw new ArgumentException($"blob '{name}' was not named in Load's capture list, so its memory is reused; pass it to Load");
            return (name, v);
        }).ToList();
        if (profileTicks.Length == 0)
            plan!.Run();
        else
            RunProfiled();
        var loc = Read(Plan.Loc);
        var conf = Read(Plan.Conf);
        var captured = wanted.ToDictionary(w => w.name, w => Read(w.v));
        return new SsdOutput(loc, conf, captured);
    }

    private void RunProfiled()
    {
        RunTimed(executors, profileTicks);
        profileRuns++;
    }

    /// <summary>Runs the steps one by one, each waited for, adding its time to its tick count.</summary>
    private void RunTimed(List<IOpExecutor> steps, long[] ticks)
    {
        backend.Synchronize();
        for (int i = 0; i < steps.Count; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            steps[i].Run();
            backend.Synchronize();
            ticks[i] += Stopwatch.GetTimestamp() - t0;
        }
    }

    private float[] Read(PlanValue v)
    {
        var host = new float[v.Count];
        backend.Download(Slice(v), host);
        return host;
    }

    private PriorBoxes DownloadPriors()
    {
        var flat = new float[priors.Length];
        backend.Download(priors.All, flat);
        return PriorBoxes.FromFlat(Model.Priors.Style, flat);
    }

    /// <summary>Disposes the executors' device weights, the arena and the priors (the backend belongs to the caller).</summary>
    public void Dispose()
    {
        backend.Synchronize();
        plan?.Dispose();
        foreach (var e in executors.Concat(backward)) (e as IDisposable)?.Dispose();
        executors.Clear();
        backward.Clear();
        arena.Dispose();
        priors.Dispose();
    }
}
