using Ssd.Engine.Backends;
using Ssd.Engine.Imaging;
using Ssd.Engine.Network;
using Ssd.Engine.PostProcessing;
using Ssd.Kernels.Detect;
using Ssd.Kernels.Preprocess;
using Ssd.Weights.Model;
using Ssd.Weights.Tensors;

namespace Ssd.Engine.Detection;

/// <summary>
/// <see cref="ISsdNetwork"/> over the engine's <see cref="SsdNetwork"/>. A network is planned for one batch size,
/// so one is built (lazily, with its own backend and arena) for each batch size asked for: in practice the
/// detector's batch and the remainder of the last batch. On an ILGPU backend each one can also post-process on its
/// device (<see cref="DevicePostProcessor"/>, made on first use). Not thread-safe; the detector serialises calls.
/// </summary>
public sealed class EngineNetwork : ISsdNetwork
{
    private readonly ModelDescription model;
    private readonly IReadOnlyDictionary<string, TensorData> tensors;
    private readonly Func<IBackend> createBackend;
    private readonly Dictionary<int, (IBackend Backend, SsdNetwork Network)> byBatch = [];
    private readonly Dictionary<int, DevicePostProcessor> postByBatch = [];
    private readonly float? confidenceThreshold;
    private readonly DetectConfig? deviceConfig;

    public float[] Priors { get; }
    public string Description { get; }

    /// <summary>On an ILGPU backend the images are pre-processed on the device, into the network's input.</summary>
    public bool PreprocessesOnDevice { get; }

    /// <param name="confidenceThreshold">Replaces the model's threshold in the device post-processing when set.</param>
    public EngineNetwork(ModelDescription model, IReadOnlyDictionary<string, TensorData> tensors, Func<IBackend> createBackend, float? confidenceThreshold = null)
    {
        (this.model, this.tensors, this.createBackend, this.confidenceThreshold) = (model, tensors, createBackend, confidenceThreshold);
        var first = For(1);
        Description = first.Backend.Description;
        PreprocessesOnDevice = first.Backend.Device is not null;
        // The post-processors take Caffe's priors as [2, P*4] (boxes, then variances), the others as the boxes alone.
        Priors = first.Network.Priors.Flat;
        if (PreprocessesOnDevice)
        {
            // A model the device path cannot take exactly keeps the host post-processor.
            try { deviceConfig = DevicePostProcessor.ConfigFor(model, confidenceThreshold); }
            catch (Exception e) when (e is ArgumentException or NotSupportedException) { deviceConfig = null; }
        }
    }

    public bool PostProcessesOnDevice(int batch) => deviceConfig is { } c && c.Fits(batch, For(1).Network.PriorCount);

    public IReadOnlyList<PostDetection>[] Detect(float[] input, int batch, IReadOnlyList<ImageSize> originalSizes)
    {
        var (network, post) = DeviceFor(batch, originalSizes.Count);
        var (loc, conf) = network.ForwardOnDevice(input);
        return post.Run(loc.View, conf.View, originalSizes);
    }

    public IReadOnlyList<PostDetection>[] Detect(IReadOnlyList<RgbImage> images, PreprocessSettings settings, IReadOnlyList<ImageSize> originalSizes)
    {
        var (network, post) = DeviceFor(images.Count, originalSizes.Count);
        var (loc, conf) = network.ForwardOnDevice(images, settings);
        return post.Run(loc.View, conf.View, originalSizes);
    }

    private (SsdNetwork Network, DevicePostProcessor Post) DeviceFor(int batch, int sizes)
    {
        if (sizes != batch) throw new ArgumentException($"{sizes} image sizes for a batch of {batch}");
        if (!PostProcessesOnDevice(batch)) throw new NotSupportedException($"{model.Name}: this network cannot post-process a batch of {batch} on its device");
        var (backend, network) = For(batch);
        if (!postByBatch.TryGetValue(batch, out var post))
            postByBatch[batch] = post = new DevicePostProcessor(backend.Device!, model, Priors, confidenceThreshold);
        return (network, post);
    }

    public (float[] Loc, float[] Conf) Forward(float[] input, int batch)
    {
        var output = For(batch).Network.Forward(input);
        return (output.Loc, output.Conf);
    }

    public (float[] Loc, float[] Conf) Forward(IReadOnlyList<RgbImage> images, PreprocessSettings settings)
    {
        var output = For(images.Count).Network.Forward(images, settings);
        return (output.Loc, output.Conf);
    }

    private (IBackend Backend, SsdNetwork Network) For(int batch)
    {
        if (byBatch.TryGetValue(batch, out var entry)) return entry;
        var backend = createBackend();
        try
        {
            var network = SsdNetwork.Load(model, tensors, backend, model.Input.Width, model.Input.Height, batch);
            return byBatch[batch] = (backend, network);
        }
        catch
        {
            backend.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var post in postByBatch.Values) post.Dispose();
        postByBatch.Clear();
        foreach (var (backend, network) in byBatch.Values)
        {
            network.Dispose();
            backend.Dispose();
        }
        byBatch.Clear();
    }
}
