using System.Diagnostics;
using Ssd.Engine.Backends;
using Ssd.Engine.Graph;
using Ssd.Engine.Imaging;
using Ssd.Engine.Memory;
using Ssd.Kernels.Core;
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
    private LaunchPlan? plan;
    private readonly Dictionary<PlanValue, ArenaSlice> slices = [];
    private PriorBoxes? hostPriors;
    private long[] profileTicks = [];
    private int profileRuns;

    public ModelDescription Model { get; }
    public ExecutionPlan Plan { get; }
    public MemoryPlan Memory { get; }
    public int Batch => Plan.Batch;
    public int Width => Plan.Input.Shape[3];
    public int Height => Plan.Input.Shape[2];
    public int NumClasses => Model.PostProcess.NumClasses;
    public int PriorCount { get; }

    /// <summary>The priors on the backend, in the flat layout the post-processors take (Caffe [2, P*4]: boxes then
    /// variances; the others [P, 4]). The device post-processing reads them in place.</summary>
    public DeviceSlice DevicePriors => priors.All;

    /// <summary>The priors on the host (downloaded once, on first use).</summary>
    public PriorBoxes Priors => hostPriors ??= DownloadPriors();

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

    private SsdNetwork(ModelDescription model, ExecutionPlan plan, MemoryPlan memory, IBackend backend, DeviceBuffer arena, DeviceBuffer priors, int priorCount)
    {
        (Model, Plan, Memory, this.backend, this.arena, this.priors, PriorCount) = (model, plan, memory, backend, arena, priors, priorCount);
    }

    /// <summary>
    /// Builds the plan for a width x height input (default: the model's) and batch, places the activations in one
    /// arena on the backend, creates the executors and computes the priors there. Blobs named in
    /// <paramref name="capture"/> stay readable after Forward (and keep their own storage, so a captured
    /// pre-activation value is not fused away). The backend is used, not owned.
    /// </summary>
    public static SsdNetwork Load(ModelDescription model, IReadOnlyDictionary<string, TensorData> tensors, IBackend backend,
        int? width = null, int? height = null, int batch = 1, IEnumerable<string>? capture = null)
    {
        var (plan, roots, memory) = PlanWithMemory(model, tensors, width, height, batch, capture);
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

            arena = backend.Allocate(memory.ArenaSize);
            network = new SsdNetwork(model, plan, memory, backend, arena, priors, p);
            var rootSlice = roots.Select((r, i) => (r, i)).ToDictionary(x => x.r, x => memory.Offsets[x.i]);
            foreach (var v in plan.Values) network.slices[v] = new ArenaSlice(rootSlice[v.Root], v.Count);

            var context = backend.Context(arena);
            foreach (var step in plan.Steps)
            {
                var binding = new OpBinding([.. step.Inputs.Select(v => network.slices[v])], [network.slices[step.Output]]);
                network.executors.Add(OpRegistry.Create(step, OpPass.Forward, binding, context));
            }
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
        foreach (var e in executors) (e as IDisposable)?.Dispose();
        executors.Clear();
        arena.Dispose();
        priors.Dispose();
    }
}
