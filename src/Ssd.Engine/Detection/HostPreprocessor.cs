using Ssd.Engine.Imaging;
using Ssd.Kernels.Preprocess;
using Ssd.Weights.Model;

namespace Ssd.Engine.Detection;

/// <summary>
/// Pre-processing on the host with the plain reference (bit-exact with OpenCV's INTER_LINEAR and torch's bilinear
/// resize). The ILGPU kernels compute the same values on a device; see src/Ssd.Kernels/Preprocess.
/// </summary>
internal sealed class HostPreprocessor(InputSpec spec) : IPreprocessor
{
    private readonly PreprocessSettings settings = InputPreprocessing.FromSpec(spec);

    public void Run(RgbImage image, Span<float> destination) =>
        PreprocessReference.Forward(image.Pixels, image.Width, image.Height, settings, destination);
}
