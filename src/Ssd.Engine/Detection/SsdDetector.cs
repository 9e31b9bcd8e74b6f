using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Ssd.Engine.Backends;
using Ssd.Engine.Graph;
using Ssd.Engine.Imaging;
using Ssd.Engine.PostProcessing;
using Ssd.Weights.Model;
using Ssd.Weights.Tensors;

namespace Ssd.Engine.Detection;

/// <summary>
/// Loads a converted model and finds objects in images: preprocess -> network -> the model flavour's exact
/// post-processing (<see cref="PostProcessorFactory"/>), boxes in original pixels. A detector has one backend, so one
/// device (one ILGPU context, kernels compiled once, weights uploaded per network), shared by every batch size and
/// every input size it runs. On an ILGPU backend the whole batch runs on the device: one pixel upload per image,
/// pre-processing, layers and post-processing (decode, softmax, per-class ranking, NMS, merge:
/// <see cref="DevicePostProcessor"/>, the same detections in the same order as the host post-processor) there, and one
/// download of the detections; the host only scales the boxes to original pixels. Options can keep either end on the
/// host (PreprocessOnDevice, PostProcessOnDevice); a batch the device limits do not take (e.g. Caffe top_k -1 over too
/// many priors) is post-processed on the host. On the CPU backend everything runs on the host.
/// Input size: the model's, a fixed one, or each image's own (<see cref="InputSize.Native"/>: images are batched with
/// others of their size; the networks, one per input size and batch size, live in a least-recently-used cache of
/// <see cref="SsdDetectorOptions.MaxNetworks"/>; an image too small for the network is that image's error,
/// <see cref="ImageSizeException"/>, see <see cref="DetectEach"/>).
/// Thread-safety: Detect may be called from several threads; calls are serialised by one lock around the whole
/// pipeline (the networks' device buffers are reused between calls). Dispose frees the device and its memory; later
/// calls throw ObjectDisposedException.
/// </summary>
public sealed class SsdDetector : IDisposable
{
    private readonly object gate = new();
    private readonly IBackend? backend;
    private readonly DetectorPipeline? fixedPipeline;
    private readonly Func<int, int, DetectorPipeline>? createForSize;
    private readonly NetworkCache<(int Width, int Height), DetectorPipeline>? bySize;
    private readonly NetworkCache<NetworkKey, EngineNetwork.Entry>? networks;
    private readonly string[]? classNames;
    private readonly int maxBatch;
    private bool disposed;

    /// <summary>The model as loaded (with the fixed input size applied; the file's size when native).</summary>
    public ModelDescription Model { get; }

    /// <summary>Where the last Detect call spent its time (summed over its batches).</summary>
    public DetectorTimings LastTimings { get; private set; } = new(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero);

    /// <summary>True when every batch of the last Detect call was post-processed on the device (one download of detections).</summary>
    public bool LastPostProcessedOnDevice { get; private set; }

    /// <summary>True when every image runs at its own size.</summary>
    public bool NativeInputSize => createForSize is not null;

    /// <summary>How many networks (input size x batch size) are built and cached now; at most <see cref="SsdDetectorOptions.MaxNetworks"/>.</summary>
    public int CachedNetworks
    {
        get { lock (gate) return networks?.Count ?? 0; }
    }

    /// <summary>Wires given parts together (tests and hosts that build their own network). Takes ownership of the network.</summary>
    public SsdDetector(ModelDescription model, ISsdNetwork network, IPreprocessor preprocessor, SsdDetectorOptions? options = null)
        : this(model, options ?? new SsdDetectorOptions(), null, null, null, null)
    {
        options ??= new SsdDetectorOptions();
        fixedPipeline = new DetectorPipeline(model, network, preprocessor, options.ConfidenceThreshold, options.PreprocessOnDevice, options.PostProcessOnDevice);
    }

    private SsdDetector(ModelDescription model, SsdDetectorOptions options, IBackend? backend, NetworkCache<NetworkKey, EngineNetwork.Entry>? networks,
        DetectorPipeline? fixedPipeline, Func<int, int, DetectorPipeline>? createForSize)
    {
        if (options.MaxBatch <= 0) throw new ArgumentException($"detector: batch size {options.MaxBatch} must be positive");
        Model = model;
        (this.backend, this.networks, this.fixedPipeline, this.createForSize) = (backend, networks, fixedPipeline, createForSize);
        if (createForSize is not null) bySize = new(options.MaxNetworks);
        maxBatch = options.MaxBatch;
        classNames = model.PostProcess.ClassNames;
    }

    /// <summary>Reads a model file (`ssd convert` output) and builds its network on the chosen backend.</summary>
    public static SsdDetector Load(string path, SsdDetectorOptions? options = null)
    {
        var (model, tensors) = ModelFile.Load(path);
        return Create(model, tensors, options);
    }

    /// <summary>
    /// Builds a detector from a model description and its tensors. <paramref name="createBackend"/> is called once, for
    /// the detector's one backend, which it then owns (default: <see cref="BackendFactory"/> for options.Backend).
    /// </summary>
    public static SsdDetector Create(ModelDescription model, IReadOnlyDictionary<string, TensorData> tensors,
        SsdDetectorOptions? options = null, Func<IBackend>? createBackend = null)
    {
        options ??= new SsdDetectorOptions();
        if (options.MaxBatch <= 0) throw new ArgumentException($"detector: batch size {options.MaxBatch} must be positive");
        if (options.MaxNetworks <= 0) throw new ArgumentException($"detector: network cache bound {options.MaxNetworks} must be positive");
        bool native = options.InputSize is { IsNative: true };
        var (w, h) = native ? (0, 0) : options.InputSize is { } s ? (s.Width, s.Height) : (model.Input.Width, model.Input.Height);
        if (native) RequireResizable(model, "native");
        else
        {
            if (w <= 0 || h <= 0) throw new ArgumentException($"detector: input size {w}x{h} must be positive");
            if (w != model.Input.Width || h != model.Input.Height) RequireResizable(model, $"{w}x{h}");
        }

        var weights = ModelWeights.From(tensors); // converted once, shared by every network
        var backend = createBackend?.Invoke() ?? BackendFactory.Create(options.Backend, new Ssd.Kernels.Core.DeviceOptions(options.AllowTf32, options.CudaGraphs));
        var networks = new NetworkCache<NetworkKey, EngineNetwork.Entry>(options.MaxNetworks);
        DetectorPipeline Build(int width, int height)
        {
            var sized = width == model.Input.Width && height == model.Input.Height ? model : model with { Input = model.Input with { Width = width, Height = height } };
            var network = new EngineNetwork(sized, weights, backend, networks, ownsCache: false);
            try { return new DetectorPipeline(sized, network, new HostPreprocessor(sized.Input), options.ConfidenceThreshold, options.PreprocessOnDevice, options.PostProcessOnDevice); }
            catch { network.Dispose(); throw; }
        }

        DetectorPipeline? pipeline = null;
        try
        {
            if (native) return new SsdDetector(model, options, backend, networks, null, Build);
            pipeline = Build(w, h);
            return new SsdDetector(pipeline.Model, options, backend, networks, pipeline, null);
        }
        catch
        {
            pipeline?.Dispose();
            networks.Dispose();
            backend.Dispose();
            throw;
        }
    }

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

    public IReadOnlyList<Detection> Detect(RgbImage image) => Detect([image])[0];

    /// <summary>Detections per image, in input order. Throws the first image's error if any image cannot be run (see
    /// <see cref="DetectEach"/> to get the others' detections anyway).</summary>
    public IReadOnlyList<IReadOnlyList<Detection>> Detect(IReadOnlyList<RgbImage> images)
    {
        var results = DetectEach(images);
        foreach (var r in results)
            if (r.Error is { } e) ExceptionDispatchInfo.Throw(e);
        return [.. results.Select(r => r.Detections)];
    }

    /// <summary>
    /// Detections per image, in input order, each image with its own outcome: an image the network cannot take (at the
    /// native input size, one smaller than the layers allow: <see cref="ImageSizeException"/>) gets its error and no
    /// detections, and the others run as usual. Errors of the model or the device still throw.
    /// </summary>
    public IReadOnlyList<DetectionResult> DetectEach(IReadOnlyList<RgbImage> images)
    {
        ArgumentNullException.ThrowIfNull(images);
        for (int i = 0; i < images.Count; i++)
            if (images[i] is null) throw new ArgumentNullException(nameof(images), $"image {i} is null");
        var result = new DetectionResult[images.Count];
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            // Images that share a pipeline (all of them, unless native) are batched together, in input order.
            long pre = 0, net = 0, post = 0;
            bool allOnDevice = images.Count > 0;
            var groups = Enumerable.Range(0, images.Count).GroupBy(i => fixedPipeline is null ? (images[i].Width, images[i].Height) : (0, 0));
            foreach (var group in groups)
            {
                var indices = group.ToArray();
                ImageSizeException? error = null;
                var pipeline = fixedPipeline ?? PipelineFor(group.Key.Item1, group.Key.Item2, out error);
                if (pipeline is null)
                {
                    foreach (int i in indices) result[i] = new DetectionResult([], error);
                    allOnDevice = false;
                    continue;
                }
                for (int start = 0; start < indices.Length; start += maxBatch)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    int n = Math.Min(maxBatch, indices.Length - start);
                    var batch = new RgbImage[n];
                    var sizes = new ImageSize[n];
                    for (int i = 0; i < n; i++)
                    {
                        batch[i] = images[indices[start + i]];
                        sizes[i] = new ImageSize(batch[i].Width, batch[i].Height);
                    }
                    var place = pipeline.Place(n);
                    allOnDevice &= place.PostProcessOnDevice;
                    // Pre-processing on the device is timed with the network (no host pre-processing time).
                    float[]? input = place.PreprocessOnDevice ? null : HostInput(pipeline, batch);
                    long t1 = place.PreprocessOnDevice ? t0 : Stopwatch.GetTimestamp(), t2;
                    IReadOnlyList<PostDetection>[] perImage;
                    if (place.PostProcessOnDevice)
                    {
                        // One download: the detections; their device work is timed with the network.
                        perImage = input is null ? pipeline.Network.Detect(batch, place.DeviceSettings!, pipeline.Rules, sizes) : pipeline.Network.Detect(input, n, pipeline.Rules, sizes);
                        t2 = Stopwatch.GetTimestamp();
                    }
                    else
                    {
                        var (loc, conf) = input is null ? pipeline.Network.Forward(batch, place.DeviceSettings!) : pipeline.Network.Forward(input, n);
                        t2 = Stopwatch.GetTimestamp();
                        perImage = pipeline.PostProcessor.Run(loc, conf, sizes);
                    }
                    for (int i = 0; i < n; i++)
                        result[indices[start + i]] = new DetectionResult(
                            perImage[i].Select(d => new Detection(d.ClassId, LabelOf(d.ClassId), d.Score, new BoxF(d.X1, d.Y1, d.X2, d.Y2))).ToArray(), null);
                    long t3 = Stopwatch.GetTimestamp();
                    (pre, net, post) = (pre + t1 - t0, net + t2 - t1, post + t3 - t2);
                }
            }
            LastPostProcessedOnDevice = allOnDevice;
            LastTimings = new DetectorTimings(Stopwatch.GetElapsedTime(0, pre), Stopwatch.GetElapsedTime(0, net), Stopwatch.GetElapsedTime(0, post));
        }
        return result;
    }

    private static float[] HostInput(DetectorPipeline pipeline, RgbImage[] batch)
    {
        var input = new float[batch.Length * pipeline.InputFloats];
        for (int i = 0; i < batch.Length; i++)
            pipeline.Preprocessor.Run(batch[i], input.AsSpan(i * pipeline.InputFloats, pipeline.InputFloats));
        return input;
    }

    /// <summary>The pipeline for one native size, from the cache or built now; null (with the reason) when the network
    /// cannot run at that size, e.g. an image smaller than its layers allow.</summary>
    private DetectorPipeline? PipelineFor(int width, int height, out ImageSizeException? error)
    {
        error = null;
        try { return bySize!.Get((width, height), k => createForSize!(k.Width, k.Height)); }
        catch (Exception e) when (e is InvalidDataException or ArgumentException)
        {
            error = new ImageSizeException($"image {width}x{height}: {Model.Name} cannot run at this native size ({e.Message})", e);
            return null;
        }
    }

    private string LabelOf(int classId) =>
        classNames is not null && classId < classNames.Length ? classNames[classId] : classId.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public void Dispose()
    {
        lock (gate)
        {
            if (disposed) return;
            disposed = true;
            fixedPipeline?.Dispose();
            bySize?.Dispose();
            networks?.Dispose();
            backend?.Dispose();
        }
    }
}
