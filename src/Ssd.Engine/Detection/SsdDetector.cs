using System.Diagnostics;
using Ssd.Engine.Backends;
using Ssd.Engine.Imaging;
using Ssd.Engine.PostProcessing;
using Ssd.Weights.Model;
using Ssd.Weights.Tensors;

namespace Ssd.Engine.Detection;

/// <summary>
/// Loads a converted model and finds objects in images: preprocess -> network -> the model flavour's exact
/// post-processing (<see cref="PostProcessorFactory"/>), boxes in original pixels. On an ILGPU backend the whole
/// batch runs on the device: one pixel upload per image, pre-processing, layers and post-processing (decode,
/// softmax, per-class ranking, NMS, merge: <see cref="DevicePostProcessor"/>, the same detections in the same order
/// as the host post-processor) there, and one download of the detections; the host only scales the boxes to
/// original pixels. Options can keep either end on the host (PreprocessOnDevice, PostProcessOnDevice); a batch the
/// device limits do not take (e.g. Caffe top_k -1 over too many priors) is post-processed on the host. On the CPU
/// backend everything runs on the host.
/// Input size: the model's, a fixed one, or each image's own (<see cref="InputSize.Native"/>: one network per
/// distinct image size, built on first use and kept; images are batched with others of their size).
/// Thread-safety: Detect may be called from several threads; calls are serialised by one lock around the whole
/// pipeline (the network's device buffers are reused between calls). Dispose frees the device memory; later calls
/// throw ObjectDisposedException.
/// </summary>
public sealed class SsdDetector : IDisposable
{
    private readonly object gate = new();
    private readonly Func<int, int, DetectorPipeline>? createForSize;
    private readonly Dictionary<(int Width, int Height), DetectorPipeline> bySize = [];
    private readonly DetectorPipeline? fixedPipeline;
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

    /// <summary>Wires given parts together (tests and hosts that build their own network). Takes ownership of the network.</summary>
    public SsdDetector(ModelDescription model, ISsdNetwork network, IPreprocessor preprocessor, SsdDetectorOptions? options = null)
        : this(model, options ?? new SsdDetectorOptions(), new DetectorPipeline(model, network, preprocessor, options?.ConfidenceThreshold,
            postProcessOnDevice: options?.PostProcessOnDevice ?? true), null)
    {
    }

    private SsdDetector(ModelDescription model, SsdDetectorOptions options, DetectorPipeline? fixedPipeline, Func<int, int, DetectorPipeline>? createForSize)
    {
        if (options.MaxBatch <= 0) throw new ArgumentException($"detector: batch size {options.MaxBatch} must be positive");
        Model = model;
        this.fixedPipeline = fixedPipeline;
        maxBatch = options.MaxBatch;
        classNames = model.PostProcess.ClassNames;
        this.createForSize = createForSize;
    }

    /// <summary>Reads a model file (`ssd convert` output) and builds its network on the chosen backend.</summary>
    public static SsdDetector Load(string path, SsdDetectorOptions? options = null)
    {
        var (model, tensors) = ModelFile.Load(path);
        return Create(model, tensors, options);
    }

    /// <summary>
    /// Builds a detector from a model description and its tensors. <paramref name="createBackend"/> makes one
    /// backend per network (per batch size and input size); default: <see cref="BackendFactory"/> for options.Backend.
    /// </summary>
    public static SsdDetector Create(ModelDescription model, IReadOnlyDictionary<string, TensorData> tensors,
        SsdDetectorOptions? options = null, Func<IBackend>? createBackend = null)
    {
        options ??= new SsdDetectorOptions();
        if (options.MaxBatch <= 0) throw new ArgumentException($"detector: batch size {options.MaxBatch} must be positive");
        var backend = createBackend ?? (() => BackendFactory.Create(options.Backend, new Ssd.Kernels.Core.DeviceOptions(options.AllowTf32, options.CudaGraphs)));
        DetectorPipeline Build(int width, int height)
        {
            var sized = width == model.Input.Width && height == model.Input.Height ? model : model with { Input = model.Input with { Width = width, Height = height } };
            var network = new EngineNetwork(sized, tensors, backend, options.ConfidenceThreshold);
            try { return new DetectorPipeline(sized, network, new HostPreprocessor(sized.Input), options.ConfidenceThreshold, options.PreprocessOnDevice, options.PostProcessOnDevice); }
            catch { network.Dispose(); throw; }
        }

        if (options.InputSize is { IsNative: true })
        {
            RequireResizable(model, "native");
            return new SsdDetector(model, options, null, Build);
        }
        var (w, h) = options.InputSize is { } s ? (s.Width, s.Height) : (model.Input.Width, model.Input.Height);
        if (w <= 0 || h <= 0) throw new ArgumentException($"detector: input size {w}x{h} must be positive");
        if (w != model.Input.Width || h != model.Input.Height) RequireResizable(model, $"{w}x{h}");
        var pipeline = Build(w, h);
        try { return new SsdDetector(pipeline.Model, options, pipeline, null); }
        catch { pipeline.Dispose(); throw; }
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

    public IReadOnlyList<IReadOnlyList<Detection>> Detect(IReadOnlyList<RgbImage> images)
    {
        ArgumentNullException.ThrowIfNull(images);
        for (int i = 0; i < images.Count; i++)
            if (images[i] is null) throw new ArgumentNullException(nameof(images), $"image {i} is null");
        var result = new IReadOnlyList<Detection>[images.Count];
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
                var pipeline = fixedPipeline ?? PipelineFor(group.Key.Item1, group.Key.Item2);
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
                    bool onDevice = pipeline.PostProcessesOnDevice(n);
                    allOnDevice &= onDevice;
                    // Pre-processing on the device is timed with the network (no host pre-processing time).
                    var settings = pipeline.DeviceSettings;
                    float[]? input = settings is null ? HostInput(pipeline, batch) : null;
                    long t1 = settings is null ? Stopwatch.GetTimestamp() : t0, t2;
                    IReadOnlyList<PostDetection>[] perImage;
                    if (onDevice)
                    {
                        // One download: the detections; their device work is timed with the network.
                        perImage = input is null ? pipeline.Network.Detect(batch, settings!, sizes) : pipeline.Network.Detect(input, n, sizes);
                        t2 = Stopwatch.GetTimestamp();
                    }
                    else
                    {
                        var (loc, conf) = input is null ? pipeline.Network.Forward(batch, settings!) : pipeline.Network.Forward(input, n);
                        t2 = Stopwatch.GetTimestamp();
                        perImage = pipeline.PostProcessor.Run(loc, conf, sizes);
                    }
                    for (int i = 0; i < n; i++)
                        result[indices[start + i]] = perImage[i].Select(d => new Detection(d.ClassId, LabelOf(d.ClassId), d.Score, new BoxF(d.X1, d.Y1, d.X2, d.Y2))).ToArray();
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

    private DetectorPipeline PipelineFor(int width, int height)
    {
        if (!bySize.TryGetValue((width, height), out var pipeline))
            bySize[(width, height)] = pipeline = createForSize!(width, height);
        return pipeline;
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
            foreach (var p in bySize.Values) p.Dispose();
            bySize.Clear();
        }
    }
}
