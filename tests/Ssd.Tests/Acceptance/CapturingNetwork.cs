using Ssd.Engine.Backends;
using Ssd.Engine.Detection;
using Ssd.Engine.Network;
using Ssd.Weights.Model;
using Ssd.Weights.Tensors;

namespace Ssd.Tests.Acceptance;

/// <summary>
/// The engine's network for a detector (as EngineNetwork builds it, batch 1) that also keeps what its last
/// forward pass saw and produced: the pre-processed input and the captured blobs. Lets an acceptance test check
/// the pre-processing, the feature maps, the heads and the detections of ONE full-size forward pass.
/// </summary>
public sealed class CapturingNetwork : ISsdNetwork
{
    private readonly IBackend backend;
    private readonly SsdNetwork network;
    private readonly string[] capture;

    public float[] Priors { get; }
    public float[]? LastInput { get; private set; }
    public SsdOutput? LastOutput { get; private set; }

    public CapturingNetwork(ModelDescription model, IReadOnlyDictionary<string, TensorData> tensors, IBackend backend, string[] capture)
    {
        (this.backend, this.capture) = (backend, capture);
        network = SsdNetwork.Load(model, tensors, backend, capture: capture);
        var p = network.Priors;
        Priors = p.Variances is null ? p.Boxes : [.. p.Boxes, .. p.Variances];
    }

    public (float[] Loc, float[] Conf) Forward(float[] input, int batch)
    {
        if (batch != 1) throw new ArgumentException($"capturing network: batch {batch}, planned for 1");
        LastInput = (float[])input.Clone();
        LastOutput = network.Forward(input, capture);
        return (LastOutput.Loc, LastOutput.Conf);
    }

    public void Dispose()
    {
        network.Dispose();
        backend.Dispose();
    }
}
