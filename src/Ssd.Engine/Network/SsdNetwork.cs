using Ssd.Engine.Backends;
using Ssd.Engine.Backends.Ilgpu;
using Ssd.Engine.Graph;
using Ssd.Engine.Imaging;
using Ssd.Engine.Memory;
using Ssd.Weights.Model;
using Ssd.Weights.Tensors;
using Ssd.Kernels.Preprocess;
using System.Diagnostics;
using ILGPU;

namespace Ssd.Engine.Network;

/// <summary>
/// A converted SSD model ready to run on a backend for one input size and batch: the plan, its arena layout, one
/// executor per step (weights uploaded once), and the priors for that input size. Forward uploads the NCHW input,
/// runs every step and downloads loc [N, P*4] and conf [N, P*C]. Not thread-safe (one arena).
/// </summary>
public sealed class SsdNetwork : IDisposable
{
    private readonly IBackend backend;
    private readonly List<ILayerExecutor> executors = [];
    private readonly Dictionary<PlanValue, ArenaSlice> slices = [];
    private long[] profileTicks = [];
    private int profileRuns;

    public ModelDescription Model { get; }
    public ExecutionPlan Plan { get; }
    public MemoryPlan Memory { get; }
    public PriorBoxes Priors { get; }
    public int Batch => Plan.Batch;
    public int Width => Plan.Input.Shape[3];
    public int Height => Plan.Input.Shape[2];
    public int NumClasses => Model.PostProcess.NumClasses;
    public int PriorCount => Priors.Count;

    /// <summary>The activation arena in bytes (every intermediate blob lives in it; weights are separate).</summary>
    public long ArenaBytes => Memory.ArenaSize * sizeof(float);

    /// <summary>
    /// Opt-in per-layer timing: while true, Forward waits for each step (Synchronize, a no-op on the synchronous CPU
    /// backend) and adds its time to <see cref="LayerTimings"/>. Off by default, since waiting after every step
    /// would stall an asynchronous (GPU) queue. Setting it clears the totals.
    /// </summary>
    public bool Profiling
    {
        get => profileTicks.Length > 0;
        set { profileTicks = value ? new long[executors.Count] : []; profileRuns = 0; }
    }

    /// <summary>Each step's time over the forward passes run since <see cref="Profiling"/> was set, in plan order.</summary>
    public IReadOnlyList<LayerTiming> LayerTimings =>
        [.. Plan.Steps.Select((s, i) => new LayerTiming(s, LayerTiming.OpOf(s),
            Stopwatch.GetElapsedTime(0, i < profileTicks.Length ? profileTicks[i] : 0), profileRuns))];

    private SsdNetwork(ModelDescription model, ExecutionPlan plan, MemoryPlan memory, PriorBoxes priors, IBackend backend)
    {
        (Model, Plan, Memory, Priors, this.backend) = (model, plan, memory, priors, backend);
    }

    /// <summary>
    /// Builds the plan for a width x height input (default: the model's) and batch, places the activations in one
    /// arena, creates the executors and computes the priors. Blobs named in <paramref name="capture"/> stay
    /// readable after Forward (and keep their own storage, so a captured pre-activation value is not fused away).
    /// The backend is used, not owned.
    /// </summary>
    public static SsdNetwork Load(ModelDescription model, IReadOnlyDictionary<string, TensorData> tensors, IBackend backend,
        int? width = null, int? height = null, int batch = 1, IEnumerable<string>? capture = null)
    {
        var (plan, roots, memory) = PlanWithMemory(model, tensors, width, height, batch, capture);
        var priors = backend.Priors(PriorRequest.Create(model.Priors, plan));
        int p = priors.Count, c = model.PostProcess.NumClasses;
        if (plan.Loc.Count != (long)batch * p * 4)
            throw new InvalidDataException($"loc output '{plan.Loc.Name}' has shape {plan.Loc.ShapeText}, expected {batch} x {p} priors x 4");
        if (plan.Conf.Count != (long)batch * p * c)
            throw new InvalidDataException($"conf output '{plan.Conf.Name}' has shape {plan.Conf.ShapeText}, expected {batch} x {p} priors x {c} classes");

        var network = new SsdNetwork(model, plan, memory, priors, backend);
        var rootSlice = roots.Select((r, i) => (r, i)).ToDictionary(x => x.r, x => memory.Offsets[x.i]);
        foreach (var v in plan.Values) network.slices[v] = new ArenaSlice(rootSlice[v.Root], v.Count);

        backend.AllocateArena(memory.ArenaSize);
        foreach (var step in plan.Steps)
        {
            var x = network.slices[step.Inputs[0]];
            var y = network.slices[step.Output];
            network.executors.Add(step switch
            {
                ConvStep s => backend.Conv(s, x, y),
                ReluStep s => backend.Relu(s, x, y),
                PoolStep s => backend.Pool(s, x, y),
                NormalizeStep s => backend.Normalize(s, x, y),
                PermuteStep s => backend.Permute(s, x, y),
                ConcatStep s => backend.Concat(s, s.Sources.Select(v => network.slices[v]).ToArray(), y),
                SoftmaxStep s => backend.Softmax(s, x, y),
                EltwiseStep s => backend.Eltwise(s, s.Sources.Select(v => network.slices[v]).ToArray(), y),
                AffineStep s => backend.Affine(s, x, y),
                _ => throw new InvalidOperationException($"no executor for {step.GetType().Name}"),
            });
        }
        return network;
    }

    /// <summary>The arena in bytes that <see cref="Load"/> would allocate, without a backend (nothing is allocated).</summary>
    public static long PlannedArenaBytes(ModelDescription model, IReadOnlyDictionary<string, TensorData> tensors,
        int? width = null, int? height = null, int batch = 1) =>
        PlanWithMemory(model, tensors, width, height, batch, null).Memory.ArenaSize * sizeof(float);

    /// <summary>The plan, its distinct storage roots, and their places in one arena (each root lives from its first to its last use).</summary>
    private static (ExecutionPlan Plan, List<PlanValue> Roots, MemoryPlan Memory) PlanWithMemory(ModelDescription model,
        IReadOnlyDictionary<string, TensorData> tensors, int? width, int? height, int batch, IEnumerable<string>? capture)
    {
        var plan = PlanBuilder.Build(model, tensors, width ?? model.Input.Width, height ?? model.Input.Height, batch, capture);
        var roots = plan.Values.Select(v => v.Root).Distinct().ToList();
        var requests = roots.Select(r => { var (first, last) = plan.Lifetime(r); return new BufferRequest(r.Count, first, last); }).ToList();
        return (plan, roots, MemoryPlanner.Plan(requests));
    }

    /// <summary>Runs the network on an NCHW float input of Batch x C x Height x Width (already pre-processed).</summary>
    public SsdOutput Forward(ReadOnlySpan<float> input, IEnumerable<string>? capture = null)
    {
        if (input.Length != Plan.Input.Count)
            throw new ArgumentException($"input has {input.Length} floats, the network expects {Plan.Input.ShapeText} = {Plan.Input.Count}");
        backend.Upload(input, slices[Plan.Input]);
        return RunAndRead(capture);
    }

    /// <summary>Runs the network on an input already on the device (ILGPU backend only); no host copy of the input.</summary>
    public SsdOutput Forward(ArrayView<float> input, IEnumerable<string>? capture = null)
    {
        if (backend is not IlgpuBackend device) throw new InvalidOperationException($"a device input needs the ILGPU backend, not {backend.Description}");
        if (input.Length != Plan.Input.Count)
            throw new ArgumentException($"input has {input.Length} floats, the network expects {Plan.Input.ShapeText} = {Plan.Input.Count}");
        device.CopyIn(input, slices[Plan.Input]);
        return RunAndRead(capture);
    }

    /// <summary>
    /// Runs the network on Batch images pre-processed on the device (ILGPU backend only): one pixel upload per image,
    /// the pre-processing kernels write straight into the input, and the host waits only for the loc / conf download.
    /// </summary>
    public SsdOutput Forward(IReadOnlyList<RgbImage> images, PreprocessSettings settings, IEnumerable<string>? capture = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(settings);
        if (backend is not IlgpuBackend device) throw new InvalidOperationException($"device pre-processing needs the ILGPU backend, not {backend.Description}");
        if (images.Count != Batch) throw new ArgumentException($"{images.Count} images for a network planned for a batch of {Batch}");
        if (settings.Width != Width || settings.Height != Height)
            throw new ArgumentException($"pre-processing to {settings.Width}x{settings.Height} for a network input of {Width}x{Height}");
        device.Preprocess(images, settings, slices[Plan.Input]);
        return RunAndRead(capture);
    }

    /// <summary>
    /// Like <see cref="Forward(IReadOnlyList{RgbImage}, PreprocessSettings, IEnumerable{string}?)"/> but downloads
    /// nothing: loc [N, P*4] and conf [N, P*C] stay on the device (views into the arena, valid until the next
    /// Forward), for the device post-processing. ILGPU backend only; the work is queued on the backend's stream.
    /// </summary>
    public (ArrayView<float> Loc, ArrayView<float> Conf) ForwardOnDevice(IReadOnlyList<RgbImage> images, PreprocessSettings settings)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(settings);
        var device = Device("device pre-processing");
        if (images.Count != Batch) throw new ArgumentException($"{images.Count} images for a network planned for a batch of {Batch}");
        if (settings.Width != Width || settings.Height != Height)
            throw new ArgumentException($"pre-processing to {settings.Width}x{settings.Height} for a network input of {Width}x{Height}");
        device.Preprocess(images, settings, slices[Plan.Input]);
        return RunOnDevice(device);
    }

    /// <summary>Uploads a pre-processed NCHW input and runs the network, leaving loc / conf on the device (see the overload above).</summary>
    public (ArrayView<float> Loc, ArrayView<float> Conf) ForwardOnDevice(ReadOnlySpan<float> input)
    {
        var device = Device("a device output");
        if (input.Length != Plan.Input.Count)
            throw new ArgumentException($"input has {input.Length} floats, the network expects {Plan.Input.ShapeText} = {Plan.Input.Count}");
        backend.Upload(input, slices[Plan.Input]);
        return RunOnDevice(device);
    }

    private IlgpuBackend Device(string what) =>
        backend as IlgpuBackend ?? throw new InvalidOperationException($"{what} needs the ILGPU backend, not {backend.Description}");

    private (ArrayView<float> Loc, ArrayView<float> Conf) RunOnDevice(IlgpuBackend device)
    {
        foreach (var e in executors) e.Run();
        ArrayView<float> View(PlanValue v) => device.Arena.SubView(slices[v].Offset, slices[v].Length);
        return (View(Plan.Loc), View(Plan.Conf));
    }

    /// <summary>The shape a blob name has after the whole graph ran.</summary>
    public int[] ShapeOf(string blob) => Plan.Blob(blob).Shape;

    private SsdOutput RunAndRead(IEnumerable<string>? capture)
    {
        var wanted = (capture ?? []).Select(name =>
        {
            var v = Plan.Blob(name);
            if (!Plan.Pinned.Contains(v)) throw new ArgumentException($"blob '{name}' was not named in Load's capture list, so its memory is reused; pass it to Load");
            return (name, v);
        }).ToList();
        if (profileTicks.Length == 0)
            foreach (var e in executors) e.Run();
        else
            RunProfiled();
        var loc = Read(Plan.Loc);
        var conf = Read(Plan.Conf);
        var captured = wanted.ToDictionary(w => w.name, w => Read(w.v));
        return new SsdOutput(loc, conf, captured);
    }

    private void RunProfiled()
    {
        backend.Synchronize();
        for (int i = 0; i < executors.Count; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            executors[i].Run();
            backend.Synchronize();
            profileTicks[i] += Stopwatch.GetTimestamp() - t0;
        }
        profileRuns++;
    }

    private float[] Read(PlanValue v)
    {
        var host = new float[v.Count];
        backend.Download(slices[v], host);
        return host;
    }

    /// <summary>Disposes the executors' device weights (the backend itself belongs to the caller).</summary>
    public void Dispose()
    {
        foreach (var e in executors) (e as IDisposable)?.Dispose();
        executors.Clear();
    }
}
