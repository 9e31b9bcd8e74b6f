using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Ssd.Engine.Backends;
using Ssd.Engine.Graph;
using Ssd.Engine.Imaging;
using Ssd.Engine.PostProcessing;
using Ssd.Kernels.Cpu;
using Ssd.Weights.Model;
using Ssd.Weights.Tensors;

namespace Ssd.Engine.Detection;

/// <summary>
/// Loads a converted model and finds objects in images: preprocess -> network -> the model flavour's exact
/// post-processing, boxes in original pixels.
/// <para>A detector has one backend, so one device (one ILGPU context, kernels compiled once), shared by every batch
/// size and input size it runs. On an ILGPU backend the whole batch runs on the device (one pixel upload per image,
/// pre-processing, layers, post-processing, one download of the detections); options can keep either end on the host
/// (<see cref="SsdDetectorOptions.PreprocessOnDevice"/>, <see cref="SsdDetectorOptions.PostProcessOnDevice"/>). On the
/// CPU backend everything runs on the host.</para>
/// <para>Input size: the model's, a fixed one, or each image's own (<see cref="InputSize.Native"/>: images are batched
/// with others of their size; networks, one per input size and batch size, live in a least-recently-used cache of
/// <see cref="SsdDetectorOptions.MaxNetworks"/>; an image too small for the network is that image's error,
/// <see cref="ImageSizeException"/>, see <see cref="DetectEach"/>).</para>
/// <para>Per call, <see cref="DetectOptions"/> replace the threshold, the NMS IoU, the number of detections and the
/// classes reported; the result is what a detector built with those options gives.</para>
/// <para>Thread-safety: every method may be called from several threads. Up to
/// <see cref="SsdDetectorOptions.MaxConcurrency"/> calls run at once, each on its own set of networks (there is no lock
/// around the pipeline); more wait for a free set. On an ILGPU device calls take turns. Dispose waits for running
/// calls, then frees the device and its memory; later calls throw <see cref="ObjectDisposedException"/>.</para>
/// </summary>
public sealed class SsdDetector : IDisposable
{
    private readonly IBackend? backend;
    private readonly Func<DetectorLane> newLane;
    private readonly object poolGate = new();
    private readonly Stack<DetectorLane> idle = new();
    private readonly List<DetectorLane> lanes = [];
    private readonly SemaphoreSlim slots;
    private readonly int maxLanes;
    private readonly DetectSettings defaults;
    private readonly ILogger logger;
    private readonly string[]? classNames;
    private readonly int maxBatch;
    private readonly int hostThreads;
    private readonly bool native;
    private bool disposed;
    private LastCall last = new(new(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero), false);

    private sealed record LastCall(DetectorTimings Timings, bool OnDevice);

    /// <summary>The model as loaded (with the fixed input size applied; the file's size when native).</summary>
    public ModelDescription Model { get; }

    /// <summary>Where the last Detect call to finish spent its time (summed over its batches).</summary>
    public DetectorTimings LastTimings => Volatile.Read(ref last).Timings;

    /// <summary>True when every batch of the last Detect call to finish was post-processed on the device (one download of detections).</summary>
    public bool LastPostProcessedOnDevice => Volatile.Read(ref last).OnDevice;

    /// <summary>True when every image runs at its own size.</summary>
    public bool NativeInputSize => native;

    /// <summary>What the network runs on (e.g. "cpu (managed SIMD)", "Cuda (NVIDIA H100)").</summary>
    public string Device { get; }

    /// <summary>How many networks (input size x batch size, over every set of networks) are built and cached now;
    /// at most <see cref="SsdDetectorOptions.MaxNetworks"/> per concurrent call.</summary>
    public int CachedNetworks
    {
        get { lock (poolGate) return lanes.Sum(l => l.CachedNetworks); }
    }

    /// <summary>The activation arenas of every network built now (all sets of networks), in bytes: what the
    /// detector holds for intermediate values, weights aside. On the CPU backend a batch of several images runs through
    /// the batch-1 network, so this stays one batch-1 arena whatever MaxBatch is.</summary>
    internal long ArenaBytes
    {
        get { lock (poolGate) return lanes.Sum(l => l.ArenaBytes); }
    }

    /// <summary>Wires given parts together (tests and hosts that build their own network). Takes ownership of the network.
    /// Calls take turns on it.</summary>
    internal SsdDetector(ModelDescription model, ISsdNetwork network, IPreprocessor preprocessor, SsdDetectorOptions? options = null)
        : this(model, options ?? new SsdDetectorOptions(), null, "custom network", native: false, maxLanes: 1, lane: null)
    {
        options ??= new SsdDetectorOptions();
        var pipeline = new DetectorPipeline(model, network, preprocessor, defaults, options.PreprocessOnDevice, options.PostProcessOnDevice, options.CpuThreads);
        var lane = new DetectorLane(pipeline, null, 1);
        lanes.Add(lane);
        idle.Push(lane);
    }

    private SsdDetector(ModelDescription model, SsdDetectorOptions options, IBackend? backend, string device, bool native, int maxLanes,
        Func<DetectorLane>? lane)
    {
        if (options.MaxBatch <= 0) throw new ArgumentException($"detector: batch size {options.MaxBatch} must be positive");
        if (options.MaxConcurrency <= 0) throw new ArgumentException($"detector: max concurrency {options.MaxConcurrency} must be positive");
        Model = model;
        (this.backend, this.native, this.maxLanes, Device) = (backend, native, maxLanes, device);
        newLane = lane ?? (() => throw new InvalidOperationException("detector: a wired network has one set of networks"));
        slots = new SemaphoreSlim(maxLanes, maxLanes);
        defaults = DetectSettings.From(options, model);
        logger = options.Logger ?? NullLogger.Instance;
        maxBatch = options.MaxBatch;
        hostThreads = options.CpuThreads ?? Environment.ProcessorCount;
        classNames = model.PostProcess.ClassNames;
    }

    /// <summary>Reads a model file (`ssd convert` output) and builds its network on the chosen backend.</summary>
    /// <exception cref="InvalidDataException">The file is not a valid model file (a checkpoint that needs converting, corrupt, truncated).</exception>
    public static SsdDetector Load(string path, SsdDetectorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        long t0 = Stopwatch.GetTimestamp();
        var (model, tensors) = ModelFile.Load(path);
        LogLoaded(options?.Logger, model, tensors, path, t0);
        return Create(model, tensors, options);
    }

    /// <summary>
    /// Reads a model (the bytes of an `ssd convert` output file) from <paramref name="stream"/>, from its position to its
    /// end, with the same checks and budgets as <see cref="Load(string, SsdDetectorOptions?)"/> (a stream that cannot
    /// seek is copied to memory first, at most <see cref="Weights.ReaderBudgets.StreamBytes"/>). The stream is not closed.
    /// </summary>
    /// <param name="stream">The model's bytes.</param>
    /// <param name="options">How to set up the detector.</param>
    /// <param name="name">How to name the stream in error messages.</param>
    /// <exception cref="InvalidDataException">The bytes are not a valid model file.</exception>
    public static SsdDetector Load(Stream stream, SsdDetectorOptions? options = null, string name = "stream")
    {
        ArgumentNullException.ThrowIfNull(stream);
        long t0 = Stopwatch.GetTimestamp();
        var (model, tensors) = ModelFile.Load(stream, name);
        LogLoaded(options?.Logger, model, tensors, name, t0);
        return Create(model, tensors, options);
    }

    private static void LogLoaded(ILogger? logger, ModelDescription model, IReadOnlyDictionary<string, TensorData> tensors, string source, long t0)
    {
        if (logger is null || !logger.IsEnabled(LogLevel.Information)) return;
        logger.LogInformation("Loaded model {Model} ({Flavor}, {Width}x{Height}, {Classes} classes, {Tensors} tensors) from {Source} in {Milliseconds:F1} ms",
            model.Name, model.Flavor, model.Input.Width, model.Input.Height, model.PostProcess.NumClasses, tensors.Count, source, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
    }

    /// <summary>
    /// Builds a detector from a model description and its tensors. <paramref name="createBackend"/> is called once, for
    /// the detector's one backend, which it then owns (default: <see cref="BackendFactory"/> for options.Backend).
    /// </summary>
    /// <param name="model">The model description.</param>
    /// <param name="tensors">Its weights by name.</param>
    /// <param name="options">How to set up the detector.</param>
    /// <param name="createBackend">Makes the backend (null: from <paramref name="options"/>).</param>
    public static SsdDetector Create(ModelDescription model, IReadOnlyDictionary<string, TensorData> tensors,
        SsdDetectorOptions? options = null, Func<IBackend>? createBackend = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tensors);
        options ??= new SsdDetectorOptions();
        if (options.MaxBatch <= 0) throw new ArgumentException($"detector: batch size {options.MaxBatch} must be positive");
        if (options.MaxNetworks <= 0) throw new ArgumentException($"detector: network cache bound {options.MaxNetworks} must be positive");
        if (options.MaxConcurrency <= 0) throw new ArgumentException($"detector: max concurrency {options.MaxConcurrency} must be positive");
        bool native = options.InputSize is { IsNative: true };
        var (w, h) = native ? (0, 0) : options.InputSize is { } s ? (s.Width, s.Height) : (model.Input.Width, model.Input.Height);
        if (native) RequireResizable(model, "native");
        else
        {
            if (w <= 0 || h <= 0) throw new ArgumentException($"detector: input size {w}x{h} must be positive");
            if (w != model.Input.Width || h != model.Input.Height) RequireResizable(model, $"{w}x{h}");
        }
        var sizedModel = native ? model : Sized(model, w, h);
        var defaults = DetectSettings.From(options, sizedModel); // checks the options before the device is made
        var logger = options.Logger ?? NullLogger.Instance;

        var weights = ModelWeights.From(tensors); // converted once, shared by every network
        var backend = createBackend?.Invoke() ?? BackendFactory.Create(options.Backend,
            new Ssd.Kernels.Core.DeviceOptions(options.AllowTf32, options.CudaGraphs), options.GpuIndex, options.CpuThreads);
        if (logger.IsEnabled(LogLevel.Information))
            logger.LogInformation("Detector {Model}: backend {Backend} chose {Device}", model.Name, DetectorBackendNames.Name(options.Backend), backend.Description);
        // On an ILGPU device calls take turns: one set of networks.
        int maxLanes = backend.Device is null ? options.MaxConcurrency : 1;

        DetectorLane NewLane()
        {
            var networks = new NetworkCache<NetworkKey, EngineNetwork.Entry>(options.MaxNetworks);
            DetectorPipeline Build(int width, int height)
            {
                var sized = Sized(model, width, height);
                var network = new EngineNetwork(sized, weights, backend, networks, ownsCache: false, logger);
                try { return new DetectorPipeline(sized, network, new HostPreprocessor(sized.Input), defaults, options.PreprocessOnDevice, options.PostProcessOnDevice, options.CpuThreads); }
                catch { network.Dispose(); throw; }
            }
            try { return native ? new DetectorLane(null, Build, options.MaxNetworks, (networks, () => networks.Count)) : new DetectorLane(Build(w, h), null, 1, (networks, () => networks.Count)); }
            catch { networks.Dispose(); throw; }
        }

        DetectorLane? first = null;
        try
        {
            BindDevice(backend);
            first = NewLane();
            var detector = new SsdDetector(sizedModel, options, backend, backend.Description, native, maxLanes, NewLane);
            detector.lanes.Add(first);
            detector.idle.Push(first);
            return detector;
        }
        catch
        {
            first?.Dispose();
            backend.Dispose();
            throw;
        }
    }

    private static ModelDescription Sized(ModelDescription model, int width, int height) =>
        width == model.Input.Width && height == model.Input.Height ? model : model with { Input = model.Input with { Width = width, Height = height } };

    /// <summary>
    /// Caffe SSD graphs are fully convolutional and compute their priors from the feature-map sizes, so any input
    /// size works (within what the layers' shapes allow). ssd.pytorch and torchvision models are tied to their
    /// training size: their prior tables and torchvision's fixed resize assume it.
    /// </summary>
    private static void RequireResizable(ModelDescription model, string size)
    {
        if (model.Flavor != ModelFlavor.Caffe)
            throw new NotSupportedException($"{model.Name}: input size {size} is not supported for {model.Flavor} models, whose input is fixed at "
                + $"{model.Input.Width}x{model.Input.Height}; only fully convolutional (Caffe) models can run at another size");
    }

    /// <summary>Detections in one image, best first.</summary>
    /// <param name="image">The image (any size: it is resized to the network's input as the model says).</param>
    /// <param name="options">This call's settings (null: the detector's).</param>
    public IReadOnlyList<Detection> Detect(RgbImage image, DetectOptions? options = null) => Detect([image], options)[0];

    /// <summary>Detections per image, in input order. Throws the first image's error if any image cannot be run (see
    /// <see cref="DetectEach"/> to get the others' detections anyway).</summary>
    /// <param name="images">The images, run in batches of at most <see cref="SsdDetectorOptions.MaxBatch"/>.</param>
    /// <param name="options">This call's settings (null: the detector's).</param>
    public IReadOnlyList<IReadOnlyList<Detection>> Detect(IReadOnlyList<RgbImage> images, DetectOptions? options = null) =>
        Unwrap(Run(images, options, CancellationToken.None));

    /// <summary>
    /// Detections per image, in input order, each image with its own outcome: an image the network cannot take (at the
    /// native input size, one smaller than the layers allow: <see cref="ImageSizeException"/>) gets its error and no
    /// detections, and the others run as usual. Errors of the model or the device still throw.
    /// </summary>
    /// <param name="images">The images.</param>
    /// <param name="options">This call's settings (null: the detector's).</param>
    public IReadOnlyList<DetectionResult> DetectEach(IReadOnlyList<RgbImage> images, DetectOptions? options = null) =>
        Run(images, options, CancellationToken.None);

    /// <summary><see cref="Detect(RgbImage, DetectOptions?)"/> on the thread pool.</summary>
    /// <param name="image">The image.</param>
    /// <param name="options">This call's settings (null: the detector's).</param>
    /// <param name="cancellationToken">Checked before the call starts and between its batches; a cancelled call throws
    /// <see cref="OperationCanceledException"/> and leaves the detector as it was.</param>
    public async Task<IReadOnlyList<Detection>> DetectAsync(RgbImage image, DetectOptions? options = null, CancellationToken cancellationToken = default) =>
        (await DetectAsync([image], options, cancellationToken).ConfigureAwait(false))[0];

    /// <summary><see cref="Detect(IReadOnlyList{RgbImage}, DetectOptions?)"/> on the thread pool.</summary>
    /// <param name="images">The images (the list is copied when the call starts).</param>
    /// <param name="options">This call's settings (null: the detector's).</param>
    /// <param name="cancellationToken">Checked before the call starts and between its batches (a batch that has started
    /// runs to its end); a cancelled call throws <see cref="OperationCanceledException"/> and leaves the detector as it was.</param>
    public async Task<IReadOnlyList<IReadOnlyList<Detection>>> DetectAsync(IReadOnlyList<RgbImage> images, DetectOptions? options = null,
        CancellationToken cancellationToken = default) =>
        Unwrap(await DetectEachAsync(images, options, cancellationToken).ConfigureAwait(false));

    /// <summary><see cref="DetectEach"/> on the thread pool, cancellable as <see cref="DetectAsync(IReadOnlyList{RgbImage}, DetectOptions?, CancellationToken)"/>.</summary>
    /// <param name="images">The images (the list is copied when the call starts).</param>
    /// <param name="options">This call's settings (null: the detector's).</param>
    /// <param name="cancellationToken">Checked before the call starts and between its batches.</param>
    public Task<IReadOnlyList<DetectionResult>> DetectEachAsync(IReadOnlyList<RgbImage> images, DetectOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        RgbImage[] copy = [.. images];
        cancellationToken.ThrowIfCancellationRequested();
        return Task.Run(() => Run(copy, options, cancellationToken), cancellationToken);
    }

    private static IReadOnlyList<IReadOnlyList<Detection>> Unwrap(IReadOnlyList<DetectionResult> results)
    {
        foreach (var r in results)
            if (r.Error is { } e) ExceptionDispatchInfo.Throw(e);
        return [.. results.Select(r => r.Detections)];
    }

    private IReadOnlyList<DetectionResult> Run(IReadOnlyList<RgbImage> images, DetectOptions? options, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(images);
        for (int i = 0; i < images.Count; i++)
            if (images[i] is null) throw new ArgumentNullException(nameof(images), $"image {i} is null");
        var settings = defaults.With(options, Model);
        var lane = Rent(ct);
        try { return RunOn(lane, images, settings, ct); }
        finally { Return(lane); }
    }

    /// <summary>A free set of networks (made when none is free and fewer than the bound exist), waiting for one when all are busy.</summary>
    private DetectorLane Rent(CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(Volatile.Read(ref disposed), this);
        slots.Wait(ct);
        lock (poolGate)
        {
            if (disposed)
            {
                slots.Release();
                throw new ObjectDisposedException(nameof(SsdDetector));
            }
            // The calling thread (a thread-pool thread for DetectAsync) uses the device from here on.
            BindDevice(backend);
            if (idle.TryPop(out var free)) return free;
        }
        try
        {
            var lane = newLane();
            lock (poolGate) lanes.Add(lane);
            if (logger.IsEnabled(LogLevel.Debug)) logger.LogDebug("Detector {Model}: a concurrent call made network set {Count} of at most {Max}", Model.Name, lanes.Count, maxLanes);
            return lane;
        }
        catch
        {
            slots.Release();
            throw;
        }
    }

    private void Return(DetectorLane lane)
    {
        lock (poolGate) idle.Push(lane);
        slots.Release();
    }

    private DetectionResult[] RunOn(DetectorLane lane, IReadOnlyList<RgbImage> images, DetectSettings settings, CancellationToken ct)
    {
        var result = new DetectionResult[images.Count];
        // Images that share a pipeline (all of them, unless native) are batched together, in input order.
        long pre = 0, net = 0, post = 0;
        int batches = 0;
        bool allOnDevice = images.Count > 0;
        var groups = Enumerable.Range(0, images.Count).GroupBy(i => lane.Fixed is null ? (images[i].Width, images[i].Height) : (0, 0));
        foreach (var group in groups)
        {
            var indices = group.ToArray();
            ImageSizeException? error = null;
            ct.ThrowIfCancellationRequested();
            var pipeline = lane.Fixed ?? lane.PipelineFor(group.Key.Item1, group.Key.Item2, Model.Name, out error);
            if (pipeline is null)
            {
                foreach (int i in indices) result[i] = new DetectionResult([], error);
                allOnDevice = false;
                continue;
            }
            var rules = settings.RulesFor(pipeline.Model);
            for (int start = 0; start < indices.Length; start += maxBatch)
            {
                ct.ThrowIfCancellationRequested();
                long t0 = Stopwatch.GetTimestamp();
                int n = Math.Min(maxBatch, indices.Length - start);
                var batch = new RgbImage[n];
                var sizes = new ImageSize[n];
                for (int i = 0; i < n; i++)
                {
                    batch[i] = images[indices[start + i]];
                    sizes[i] = new ImageSize(batch[i].Width, batch[i].Height);
                }
                var place = pipeline.Place(n, rules);
                allOnDevice &= place.PostProcessOnDevice;
                // Pre-processing on the device is timed with the network (no host pre-processing time).
                float[]? input = place.PreprocessOnDevice ? null : HostInput(pipeline, batch);
                long t1 = place.PreprocessOnDevice ? t0 : Stopwatch.GetTimestamp(), t2;
                IReadOnlyList<PostDetection>[] perImage;
                if (place.PostProcessOnDevice)
                {
                    // One download: the detections; their device work is timed with the network.
                    perImage = input is null ? pipeline.Network.Detect(batch, place.DeviceSettings!, rules, sizes) : pipeline.Network.Detect(input, n, rules, sizes);
                    t2 = Stopwatch.GetTimestamp();
                }
                else
                {
                    var (loc, conf) = input is null ? pipeline.Network.Forward(batch, place.DeviceSettings!) : pipeline.Network.Forward(input, n);
                    t2 = Stopwatch.GetTimestamp();
                    perImage = pipeline.PostProcessorFor(rules).Run(loc, conf, sizes);
                }
                for (int i = 0; i < n; i++)
                    result[indices[start + i]] = new DetectionResult(
                        settings.Finish(perImage[i], pipeline.Model).Select(d => new Detection(d.ClassId, LabelOf(d.ClassId), d.Score, new BoxF(d.X1, d.Y1, d.X2, d.Y2))).ToArray(), null);
                long t3 = Stopwatch.GetTimestamp();
                (pre, net, post) = (pre + t1 - t0, net + t2 - t1, post + t3 - t2);
                batches++;
            }
        }
        var timings = new DetectorTimings(Stopwatch.GetElapsedTime(0, pre), Stopwatch.GetElapsedTime(0, net), Stopwatch.GetElapsedTime(0, post));
        Volatile.Write(ref last, new LastCall(timings, allOnDevice));
        if (logger.IsEnabled(LogLevel.Debug))
            logger.LogDebug("Detect: {Images} images in {Batches} batches on {Device}: preprocess {Preprocess:F2} ms, network {Network:F2} ms, postprocess {Postprocess:F2} ms{Where}",
                images.Count, batches, Device, timings.Preprocess.TotalMilliseconds, timings.Network.TotalMilliseconds, timings.Postprocess.TotalMilliseconds,
                allOnDevice ? " (post-processed on the device)" : "");
        return result;
    }

    /// <summary>The batch pre-processed on the host, its images in parallel on up to CpuThreads threads (each image's
    /// resize and normalisation is independent of the others).</summary>
    private float[] HostInput(DetectorPipeline pipeline, RgbImage[] batch)
    {
        var input = new float[batch.Length * pipeline.InputFloats];
        WorkerPool.Run(batch.Length, hostThreads, (Pipeline: pipeline, Batch: batch, Input: input), static (s, _, i) =>
            s.Pipeline.Preprocessor.Run(s.Batch[i], s.Input.AsSpan(i * s.Pipeline.InputFloats, s.Pipeline.InputFloats)));
        return input;
    }

    /// <summary>
    /// Makes the backend's accelerator the current one of the calling thread (ILGPU's Accelerator.Bind), before the
    /// thread allocates, uploads, launches or frees there. CUDA keeps its current context per thread and ILGPU does
    /// not bind it for every call (its CUDA buffers allocate and free in whatever context is current; ILGPU issue
    /// #705: copies from other threads fail with "invalid device context" without Bind), so a call on a thread other
    /// than the one that made the device (DetectAsync runs on the thread pool) needs it. Calls take turns on a device
    /// (one set of networks), so binding once per call is enough. Nothing happens on the managed CPU backend.
    /// </summary>
    private static void BindDevice(IBackend? backend) => backend?.Device?.Device.Accelerator.Bind();

    private string LabelOf(int classId) =>
        classNames is not null && classId < classNames.Length ? classNames[classId] : classId.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Waits for running calls to finish, then frees every network, the device and its memory.</summary>
    public void Dispose()
    {
        lock (poolGate)
        {
            if (disposed) return;
            disposed = true;
        }
        for (int i = 0; i < maxLanes; i++) slots.Wait(); // every running call has returned its networks
        BindDevice(backend); // freeing device memory needs the context on this thread too
        lock (poolGate)
        {
            foreach (var lane in lanes) lane.Dispose();
            lanes.Clear();
            idle.Clear();
        }
        backend?.Dispose();
        slots.Release(maxLanes); // callers waiting for a slot wake up and see the detector disposed
    }
}
