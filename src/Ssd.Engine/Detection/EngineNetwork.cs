using Ssd.Engine.Backends;
using Ssd.Engine.Backends.Ilgpu;
using Ssd.Engine.Imaging;
using Ssd.Engine.Network;
using Ssd.Kernels.Preprocess;
using Ssd.Weights.Model;
using Ssd.Weights.Tensors;

namespace Ssd.Engine.Detection;

/// <summary>
/// <see cref="ISsdNetwork"/> over the engine's <see cref="SsdNetwork"/>. A network is planned for one batch size,
/// so one is built (lazily, with its own backend and arena) for each batch size asked for: in practice the
/// detector's batch and the remainder of the last batch. Not thread-safe; the detector serialises calls.
/// </summary>
public sealed class EngineNetwork : ISsdNetwork
{
    private readonly ModelDescription model;
    private readonly IReadOnlyDictionary<string, TensorData> tensors;
    private readonly Func<IBackend> createBackend;
    private readonly Dictionary<int, (IBackend Backend, SsdNetwork Network)> byBatch = [];

    public float[] Priors { get; }
    public string Description { get; }

    /// <summary>On an ILGPU backend the images are pre-processed on the device, into the network's input.</summary>
    public bool PreprocessesOnDevice { get; }

    public EngineNetwork(ModelDescription model, IReadOnlyDictionary<string, TensorData> tensors, Func<IBackend> createBackend)
    {
        (this.model, this.tensors, this.createBackend) = (model, tensors, createBackend);
        var first = For(1);
        Description = first.Backend.Description;
        PreprocessesOnDevice = first.Backend is IlgpuBackend;
        var p = first.Network.Priors;
        // The post-processors take Caffe's priors as [2, P*4] (boxes, then variances), the others as the boxes alone.
        Priors = p.Variances is null ? p.Boxes : [.. p.Boxes, .. p.Variances];
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
        foreach (var (backend, network) in byBatch.Values)
        {
            network.Dispose();
            backend.Dispose();
        }
        byBatch.Clear();
    }
}
