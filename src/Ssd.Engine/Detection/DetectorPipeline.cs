using Ssd.Engine.Imaging;
using Ssd.Engine.PostProcessing;
using Ssd.Kernels.Detect;
using Ssd.Kernels.Preprocess;
using Ssd.Weights.Model;

namespace Ssd.Engine.Detection;

/// <summary>
/// Everything that depends on the network input size: the network (planned for that size), the pre-processing
/// that resizes to it, and the post-processing over its priors. A detector has one, or one per image size when
/// it runs at each image's native size. The pre-processing runs on the network's device when the network can
/// and <paramref name="preprocessOnDevice"/> allows it (<see cref="DeviceSettings"/> set), else on the host; the
/// post-processing likewise when <paramref name="postProcessOnDevice"/> allows it and the network can take the batch
/// (<see cref="PostProcessesOnDevice"/>), else <see cref="PostProcessor"/> runs on the host.
/// </summary>
internal sealed class DetectorPipeline(ModelDescription model, ISsdNetwork network, IPreprocessor preprocessor, float? confidenceThreshold,
    bool preprocessOnDevice = false, bool postProcessOnDevice = false) : IDisposable
{
    public ModelDescription Model { get; } = model;
    public ISsdNetwork Network { get; } = network;
    public IPreprocessor Preprocessor { get; } = preprocessor;
    public PostProcessor PostProcessor { get; } = new(PostProcessorFactory.Rules(model, confidenceThreshold), network.Priors);
    /// <summary>The post-processing rules (with the threshold override) that the host and the device both follow.</summary>
    public PostProcessRules Rules => PostProcessor.Rules;
    public PreprocessSettings? DeviceSettings { get; } = preprocessOnDevice && network.PreprocessesOnDevice ? InputPreprocessing.FromSpec(model.Input) : null;
    public bool PostProcessesOnDevice(int batch) => postProcessOnDevice && Network.PostProcessesOnDevice(Rules, batch);
    public int InputFloats { get; } = model.Input.Channels * model.Input.Width * model.Input.Height;

    public void Dispose() => Network.Dispose();
}
