using Ssd.Engine.Imaging;

namespace Ssd.Engine.Detection;

/// <summary>
/// Turns an image into the network input of one batch item, [C, H, W] floats (resize, channel order, range,
/// mean / std as the model's InputSpec says). Helper `pre`'s kernels plug in through <see cref="DetectorGlue"/>.
/// </summary>
public interface IPreprocessor
{
    void Run(RgbImage image, Span<float> destination);
}
