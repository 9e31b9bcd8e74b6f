using Ssd.Engine.PostProcessing;
using Ssd.Weights.Model;

namespace Ssd.Engine.Detection;

/// <summary>
/// Everything that depends on the network input size: the network (planned for that size), the pre-processing
/// that resizes to it, and the post-processing over its priors. A detector has one, or one per image size when
/// it runs at each image's native size.
/// </summary>
internal sealed class DetectorPipeline(ModelDescription model, ISsdNetwork network, IPreprocessor preprocessor, float? confidenceThreshold) : IDisposable
{
    public ModelDescription Model { get; } = model;
    public ISsdNetwork Network { get; } = network;
    public IPreprocessor Preprocessor { get; } = preprocessor;
    public IPostProcessor PostProcessor { get; } = PostProcessorFactory.Create(model, network.Priors, confidenceThreshold);
    public int InputFloats { get; } = model.Input.Channels * model.Input.Width * model.Input.Height;

    public void Dispose() => Network.Dispose();
}
