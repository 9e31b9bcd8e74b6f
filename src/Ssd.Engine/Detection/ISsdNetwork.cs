using Ssd.Engine.Imaging;
using Ssd.Engine.PostProcessing;
using Ssd.Kernels.Detect;
using Ssd.Kernels.Preprocess;

namespace Ssd.Engine.Detection;

/// <summary>
/// The network as the detector needs it (<see cref="EngineNetwork"/> adapts the engine's SsdNetwork). Forward takes a batch [N, C, H, W] of pre-processed input and returns the heads:
/// Loc [N, P*4] and Conf [N, P*C], prior by prior in the order of <see cref="Priors"/>.
/// </summary>
internal interface ISsdNetwork : IDisposable
{
    /// <summary>The priors in the flavour's layout (Caffe [2, P*4]; ssd.pytorch centre form; torchvision xyxy pixels).</summary>
    float[] Priors { get; }

    (float[] Loc, float[] Conf) Forward(float[] input, int batch);

    /// <summary>True when the network can pre-process the images itself, on its device (the Forward overload below).</summary>
    bool PreprocessesOnDevice => false;

    /// <summary>
    /// Pre-processes a batch where the network runs (pixels uploaded once per image, resized, reordered and
    /// normalised straight into the input as <paramref name="settings"/> say) and runs it. Only when
    /// <see cref="PreprocessesOnDevice"/>; otherwise the detector pre-processes on the host and calls Forward(input, batch).
    /// </summary>
    (float[] Loc, float[] Conf) Forward(IReadOnlyList<RgbImage> images, PreprocessSettings settings) =>
        throw new NotSupportedException($"{GetType().Name} takes pre-processed input only (PreprocessesOnDevice is false)");

    /// <summary>
    /// True when the network can also post-process a batch of <paramref name="batch"/> images by
    /// <paramref name="rules"/> on its device (the Detect overloads below): loc / conf stay there and one download
    /// brings back the detections.
    /// </summary>
    bool PostProcessesOnDevice(PostProcessRules rules, int batch) => false;

    /// <summary>Runs pre-processed input and the post-processing on the device; detections per image, best first, in original pixels.</summary>
    IReadOnlyList<PostDetection>[] Detect(float[] input, int batch, PostProcessRules rules, IReadOnlyList<ImageSize> originalSizes) =>
        throw new NotSupportedException($"{GetType().Name} does not post-process on a device");

    /// <summary>Pre-processes, runs and post-processes a batch on the device (needs <see cref="PreprocessesOnDevice"/> too).</summary>
    IReadOnlyList<PostDetection>[] Detect(IReadOnlyList<RgbImage> images, PreprocessSettings settings, PostProcessRules rules, IReadOnlyList<ImageSize> originalSizes) =>
        throw new NotSupportedException($"{GetType().Name} does not post-process on a device");
}
