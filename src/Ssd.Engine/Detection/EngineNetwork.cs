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
/// (<see cref="DevicePostProcessor"/>, one per batch size, made on first use). On the CPU backend a batch of several
/// images runs image by image through the batch-1 network instead (<see cref="ForwardImageByImage"/>): every layer
/// already uses every core at batch 1, a batch-N plan's arena grows N-fold (780 MiB at SSD300 batch 8), and the CPU
/// ops' results do not depend on the batch, so the loc / conf are the same bit for bit with the arena bounded at one
/// batch-1 arena. Not thread-safe; the detector gives each concurrent call its own networks (DetectorLane).
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
        if (backend.RunsImageByImage && batch > 1) return ForwardImageByImage(input, batch);
        var output = For(batch).Network.Forward(input);
        return (output.Loc, output.Conf);
    }

    /// <summary>A CPU batch through the batch-1 network, one image after the other, each image's loc / conf copied into
    /// the batch's: what a batch-N network returns, bit for bit, in a batch-1 arena.</summary>
    private (float[] Loc, float[] Conf) ForwardImageByImage(float[] input, int batch)
    {
        var network = For(1).Network;
        long per = network.Plan.Input.Count, locPer = network.Plan.Loc.Count, confPer = network.Plan.Conf.Count;
        if (input.Length != batch * per)
            throw new ArgumentException($"input has {input.Length} floats, a batch of {batch} needs {batch} x {network.Plan.Input.ShapeText}");
        var loc = new float[batch * locPer];
        var conf = new float[batch * confPer];
        for (int i = 0; i < batch; i++)
        {
            var (l, c) = network.ForwardOnDevice(input.AsSpan((int)(i * per), (int)per));
            l.Span.CopyTo(loc.AsSpan((int)(i * locPer), (int)locPer));
            c.Span.CopyTo(conf.AsSpan((int)(i * confPer), (int)confPer));
        }
        return (loc, conf);
    }

    public (float[] Loc, float[] Conf) Forward(IReadOnlyList<RgbImage> images, PreprocessSettings settings)
    {
        var output = For(images.Count).Network.Forward(images, settings);
        return (output.Loc, output.Conf);
    }

    /// <summary>How many batch sizes of this input size have a network built and cached now.</summary>
    public int CachedNetworks => cache.Keys.Count(IsMine);

    /// <summary>The activation arenas of the networks built now, in bytes.</summary>
    public long ArenaBytes => cache.Keys.Where(IsMine).Sum(k => cache.TryPeek(k, out var e) ? e.Network.ArenaBytes : 0);

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
        if (ownsCache) cache.Dispose();
        priors.Dispose();
    }
}

/// <summary>A cached network: which input size (its <see cref="EngineNetwork"/>) and which batch size. A class, not a
/// struct: NetworkCache's dictionary over a value-type key would be JIT-compiled at every start (issue 13).</summary>
internal sealed record NetworkKey(EngineNetwork Owner, int Batch);
