using Ssd.Engine.Imaging;
using Ssd.Engine.PostProcessing;
using Ssd.Kernels.Detect;
using Ssd.Kernels.Preprocess;
using Ssd.Weights.Model;

namespace Ssd.Engine.Detection;

/// <summary>
/// Everything that depends on the network input size: the network (planned for that size), the pre-processing that
/// resizes to it, and the post-processing over its priors. A detector has one, or one per image size when it runs at
/// each image's native size. <see cref="Place"/> is the one place that decides, per batch, whether pre- and
/// post-processing run on the network's device or on the host.
/// </summary>
internal sealed class DetectorPipeline : IDisposable
{
    private readonly PreprocessSettings? deviceSettings;
    private readonly bool postProcessOnDevice;

    public DetectorPipeline(ModelDescription model, ISsdNetwork network, IPreprocessor preprocessor, DetectSettings settings,
        bool preprocessOnDevice, bool postProcessOnDevice, int? cpuThreads = null)
    {
        (Model, Network, Preprocessor, this.postProcessOnDevice) = (model, network, preprocessor, postProcessOnDevice);
        deviceSettings = preprocessOnDevice && network.PreprocessesOnDevice ? InputPreprocessing.FromSpec(model.Input) : null;
        PostProcessor = new PostProcessor(settings.RulesFor(model), network.Priors).With(settings.RulesFor(model), cpuThreads);
        InputFloats = model.Input.Channels * model.Input.Width * model.Input.Height;
    }

    public ModelDescription Model { get; }
    public ISsdNetwork Network { get; }
    public IPreprocessor Preprocessor { get; }
    /// <summary>The host post-processor under the detector's own settings.</summary>
    public PostProcessor PostProcessor { get; }

    /// <summary>The host post-processor for a call's rules (<see cref="DetectSettings.RulesFor"/>), sharing this one's buffers.</summary>
    public PostProcessor PostProcessorFor(PostProcessRules rules) => PostProcessor.With(rules);
    public int InputFloats { get; }

    /// <summary>
    /// Where a batch of <paramref name="batch"/> images is pre- and post-processed: on the network's device when the
    /// options allow it and the network can (the device post-processing also needs the batch to fit its limits, e.g.
    /// Caffe's top_k -1 over many priors may not), else on the host.
    /// </summary>
    public Placement Place(int batch, PostProcessRules rules) => new(deviceSettings, postProcessOnDevice && Network.PostProcessesOnDevice(rules, batch));

    public void Dispose() => Network.Dispose();
}

/// <summary>Where one batch runs its ends: <see cref="DeviceSettings"/> set when it is pre-processed on the device.</summary>
internal readonly record struct Placement(PreprocessSettings? DeviceSettings, bool PostProcessOnDevice)
{
    public bool PreprocessOnDevice => DeviceSettings is not null;
}
