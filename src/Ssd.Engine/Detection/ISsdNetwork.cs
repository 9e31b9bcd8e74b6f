namespace Ssd.Engine.Detection;

/// <summary>
/// The network as the detector needs it (<see cref="EngineNetwork"/> adapts the engine's SsdNetwork). Forward takes a batch [N, C, H, W] of pre-processed input and returns the heads:
/// Loc [N, P*4] and Conf [N, P*C], prior by prior in the order of <see cref="Priors"/>.
/// </summary>
public interface ISsdNetwork : IDisposable
{
    /// <summary>The priors in the flavour's layout (Caffe [2, P*4]; ssd.pytorch centre form; torchvision xyxy pixels).</summary>
    float[] Priors { get; }

    (float[] Loc, float[] Conf) Forward(float[] input, int batch);
}
