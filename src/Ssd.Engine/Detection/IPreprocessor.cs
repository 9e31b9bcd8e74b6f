using Ssd.Engine.Imaging;

namespace Ssd.Engine.Detection;

/// <summary>
/// Turns an image into the network input of one batch item, [C, H, W] floats (resize, channel order, range,
/// mean / std as the model's InputSpec says) on the host. <see cref="HostPreprocessor"/> is the implementation;
/// networks on a device pre-process there instead (<see cref="ISsdNetwork.PreprocessesOnDevice"/>).
/// </summary>
internal interface IPreprocessor
{
    void Run(RgbImage image, Span<float> destination);
}
