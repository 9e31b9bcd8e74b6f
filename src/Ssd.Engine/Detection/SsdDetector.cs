using System.Diagnostics;
using Ssd.Engine.Imaging;
using Ssd.Engine.PostProcessing;
using Ssd.Weights.Model;

namespace Ssd.Engine.Detection;

/// <summary>
/// Loads a converted model and finds objects in images: preprocess -> network -> the model flavour's exact
/// post-processing (<see cref="PostProcessorFactory"/>), boxes in original pixels.
/// Thread-safety: Detect may be called from several threads; calls are serialised by one lock around the whole
/// pipeline (the network's device buffers are reused between calls). Dispose frees the device memory; later calls
/// throw ObjectDisposedException.
/// </summary>
public sealed class SsdDetector : IDisposable
{
    private readonly object gate = new();
    private readonly ISsdNetwork network;
    private readonly IPreprocessor preprocessor;
    private readonly IPostProcessor postProcessor;
    private readonly string[]? classNames;
    private readonly int inputFloats, maxBatch;
    private bool disposed;

    public ModelDescription Model { get; }

    /// <summary>Where the last Detect call spent its time (summed over its batches).</summary>
    public DetectorTimings LastTimings { get; private set; } = new(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero);

    /// <summary>Wires given parts together (tests and hosts that build their own network). Takes ownership of the network.</summary>
    public SsdDetector(ModelDescription model, ISsdNetwork network, IPreprocessor preprocessor, SsdDetectorOptions? options = null)
    {
        options ??= new SsdDetectorOptions();
        if (options.MaxBatch <= 0) throw new ArgumentException($"detector: batch size {options.MaxBatch} must be positive");
        Model = model;
        this.network = network;
        this.preprocessor = preprocessor;
        maxBatch = options.MaxBatch;
        inputFloats = model.Input.Channels * model.Input.Width * model.Input.Height;
        postProcessor = PostProcessorFactory.Create(model, network.Priors, options.ConfidenceThreshold);
        classNames = model.PostProcess.ClassNames;
    }

    /// <summary>Reads a model file (`ssd convert` output) and builds its network on the chosen backend.</summary>
    public static SsdDetector Load(string path, SsdDetectorOptions? options = null)
    {
        options ??= new SsdDetectorOptions();
        var (model, tensors) = ModelFile.Load(path);
        if (options.InputSize is int s)
        {
            if (s <= 0) throw new ArgumentException($"detector: input size {s} must be positive");
            model = model with { Input = model.Input with { Width = s, Height = s } };
        }
        var network = new EngineNetwork(model, tensors, () => BackendFactory.Create(options.Backend));
        try { return new SsdDetector(model, network, new HostPreprocessor(model.Input), options); }
        catch { network.Dispose(); throw; }
    }

    public IReadOnlyList<Detection> Detect(RgbImage image) => Detect([image])[0];

    public IReadOnlyList<IReadOnlyList<Detection>> Detect(IReadOnlyList<RgbImage> images)
    {
        ArgumentNullException.ThrowIfNull(images);
        var result = new List<IReadOnlyList<Detection>>(images.Count);
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            long pre = 0, net = 0, post = 0;
            for (int start = 0; start < images.Count; start += maxBatch)
            {
                long t0 = Stopwatch.GetTimestamp();
                int n = Math.Min(maxBatch, images.Count - start);
                var input = new float[n * inputFloats];
                var sizes = new ImageSize[n];
                for (int i = 0; i < n; i++)
                {
                    var image = images[start + i] ?? throw new ArgumentNullException(nameof(images), $"image {start + i} is null");
                    preprocessor.Run(image, input.AsSpan(i * inputFloats, inputFloats));
                    sizes[i] = new ImageSize(image.Width, image.Height);
                }
                long t1 = Stopwatch.GetTimestamp();
                var (loc, conf) = network.Forward(input, n);
                long t2 = Stopwatch.GetTimestamp();
                foreach (var perImage in postProcessor.Run(loc, conf, sizes))
                    result.Add(perImage.Select(d => new Detection(d.ClassId, LabelOf(d.ClassId), d.Score, new BoxF(d.X1, d.Y1, d.X2, d.Y2))).ToArray());
                long t3 = Stopwatch.GetTimestamp();
                (pre, net, post) = (pre + t1 - t0, net + t2 - t1, post + t3 - t2);
            }
            LastTimings = new DetectorTimings(Stopwatch.GetElapsedTime(0, pre), Stopwatch.GetElapsedTime(0, net), Stopwatch.GetElapsedTime(0, post));
        }
        return result;
    }

    private string LabelOf(int classId) =>
        classNames is not null && classId < classNames.Length ? classNames[classId] : classId.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public void Dispose()
    {
        lock (gate)
        {
            if (disposed) return;
            disposed = true;
            network.Dispose();
        }
    }
}
