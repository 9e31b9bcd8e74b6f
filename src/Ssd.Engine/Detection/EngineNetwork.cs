using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Ssd.Engine.Backends;
using Ssd.Engine.Backends.Cpu;
using Ssd.Engine.Graph;
using Ssd.Engine.Imaging;
using Ssd.Engine.Network;
using Ssd.Engine.PostProcessing;
using Ssd.Kernels.Detect;
using Ssd.Kernels.Preprocess;
using Ssd.Weights.Model;
using Ssd.Weights.Tensors;

namespace Ssd.Engine.Detection;

/// <summary>
/// <see cref="ISsdNetwork"/> over the engine's <see cref="SsdNetwork"/> for one input size, on one backend that every
/// input size and batch size of a detector shares (one device, one ILGPU context, kernels compiled once). A network is
/// planned for one batch size, so one is built, on first use, for each batch size asked for (in practice the detector's
/// batch and the remainder of the last batch), into a bounded cache of networks the detector owns. The priors are
/// computed once, on the backend, from the plan (no probe network) and stay there for the device post-processing
/// (<see cref="DevicePostProcessor"/>, one per batch size, made on first use). On the CPU backend with more than one
/// thread a batch of several images runs image-parallel instead (<see cref="CpuBatchLanes"/>: one single-threaded
/// batch-1 network per core, the same results bit for bit, activations bounded whatever the batch). Not thread-safe;
/// the detector gives each concurrent call its own networks (DetectorLane).
/// </summary>
internal sealed class EngineNetwork : ISsdNetwork
{
    /// <summary>A cached network of one input size and batch, with its device post-processor.</summary>
    internal sealed class Entry(SsdNetwork network) : IDisposable
    {
        public SsdNetwork Network { get; } = network;
        public DevicePostProcessor? Post { get; set; }

        public void Dispose()
        {
            Post?.Dispose();
            Network.Dispose();
        }
    }

    private readonly ModelDescription model;
    private readonly ModelWeights weights;
    private readonly IBackend backend;
    private readonly NetworkCache<NetworkKey, Entry> cache;
    private readonly bool ownsCache;
    private readonly DeviceBuffer priors;
    private readonly ILogger logger;
    private float[]? hostPriors;
    private CpuBatchLanes? batchLanes;

    /// <summary>A network with its own cache of <paramref name="maxNetworks"/> batch sizes; the backend is used, not owned.</summary>
    public EngineNetwork(ModelDescription model, IReadOnlyDictionary<string, TensorData> tensors, IBackend backend,
        int maxNetworks = SsdDetectorOptions.DefaultMaxNetworks)
        : this(model, ModelWeights.From(tensors), backend, new NetworkCache<NetworkKey, Entry>(maxNetworks), ownsCache: true)
    {
    }

    internal EngineNetwork(ModelDescription model, ModelWeights weights, IBackend backend,
        NetworkCache<NetworkKey, Entry> cache, bool ownsCache, ILogger? logger = null)
    {
        (this.model, this.weights, this.backend, this.cache, this.ownsCache) = (model, weights, backend, cache, ownsCache);
        this.logger = logger ?? NullLogger.Instance;
        var plan = PlanBuilder.Build(model, weights, model.Input.Width, model.Input.Height);
        var request = PriorRequest.Create(model.Priors, plan);
        priors = backend.Priors(request);
        PriorCount = (int)(priors.Length / PriorBoxes.FlatFloatsPerPrior(request.Style));
    }

    public int Width => model.Input.Width;
    public int Height => model.Input.Height;
    public int PriorCount { get; }
    public string Description => backend.Description;

    /// <summary>The priors in the post-processors' flat layout, downloaded once from the backend.</summary>
    public float[] Priors => hostPriors ??= Download(priors);

    /// <summary>On an ILGPU backend the images can be pre-processed on the device, into the network's input.</summary>
    public bool PreprocessesOnDevice => backend.Device is not null;

    public bool PostProcessesOnDevice(PostProcessRules rules, int batch) => backend.Device is not null && rules.Fits(batch, PriorCount);

    public IReadOnlyList<PostDetection>[] Detect(float[] input, int batch, PostProcessRules rules, IReadOnlyList<ImageSize> originalSizes)
    {
        var entry = DeviceFor(batch, rules, originalSizes.Count);
        var (loc, conf) = entry.Network.ForwardOnDevice(input);
        return entry.Post!.Run(loc.View, conf.View, originalSizes);
    }

    public IReadOnlyList<PostDetection>[] Detect(IReadOnlyList<RgbImage> images, PreprocessSettings settings, PostProcessRules rules, IReadOnlyList<ImageSize> originalSizes)
    {
        var entry = DeviceFor(images.Count, rules, originalSizes.Count);
        var (loc, conf) = entry.Network.ForwardOnDevice(images, settings);
        return entry.Post!.Run(loc.View, conf.View, originalSizes);
    }

    private Entry DeviceFor(int batch, PostProcessRules rules, int sizes)
    {
        if (sizes != batch) throw new ArgumentException($"{sizes} image sizes for a batch of {batch}");
        if (!PostProcessesOnDevice(rules, batch)) throw new NotSupportedException($"{model.Name}: this network cannot post-process a batch of {batch} on its device");
        var entry = For(batch);
        if (entry.Post is null || entry.Post.Rules != rules)
        {
            entry.Post?.Dispose();
            entry.Post = new DevicePostProcessor(backend.Device!, rules, priors.All);
        }
        return entry;
    }

    public (float[] Loc, float[] Conf) Forward(float[] input, int batch)
    {
        if (backend is CpuBackend cpu && CpuBatchLanes.Applies(batch, cpu.Options))
            return (batchLanes ??= new CpuBatchLanes(model, weights, cpu.Options, Width, Height)).Forward(input, batch);
        var output = For(batch).Network.Forward(input);
        return (output.Loc, output.Conf);
    }

    public (float[] Loc, float[] Conf) Forward(IReadOnlyList<RgbImage> images, PreprocessSettings settings)
    {
        var output = For(images.Count).Network.Forward(images, settings);
        return (output.Loc, output.Conf);
    }

    /// <summary>How many networks of this input size are built now: one per cached batch size, plus the CPU batch lanes.</summary>
    public int CachedNetworks => cache.Keys.Count(IsMine) + (batchLanes?.Count ?? 0);

    /// <summary>The activation arenas of the networks built now, in bytes (cached batch sizes and CPU batch lanes).</summary>
    public long ArenaBytes => cache.Keys.Where(IsMine).Sum(k => cache.TryPeek(k, out var e) ? e.Network.ArenaBytes : 0)
        + (batchLanes?.ArenaBytes ?? 0);

    private bool IsMine(NetworkKey k) => k.Owner == this;

    private Entry For(int batch) => cache.Get(new NetworkKey(this, batch), k => Build(k.Batch));

    private Entry Build(int batch)
    {
        long t0 = Stopwatch.GetTimestamp();
        var entry = new Entry(SsdNetwork.Load(model, weights, backend, Width, Height, batch));
        if (logger.IsEnabled(LogLevel.Debug))
            logger.LogDebug("Built network {Model} {Width}x{Height} batch {Batch} on {Device} in {Milliseconds:F1} ms",
                model.Name, Width, Height, batch, backend.Description, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        return entry;
    }

    private float[] Download(DeviceBuffer buffer)
    {
        var host = new float[buffer.Length];
        backend.Download(buffer.All, host);
        return host;
    }

    public void Dispose()
    {
        cache.RemoveWhere(IsMine);
        batchLanes?.Dispose();
        if (ownsCache) cache.Dispose();
        priors.Dispose();
    }
}

/// <summary>A cached network: which input size (its <see cref="EngineNetwork"/>) and which batch size.</summary>
internal readonly record struct NetworkKey(EngineNetwork Owner, int Batch);
