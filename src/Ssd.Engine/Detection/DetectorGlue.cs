using Ssd.Weights.Model;
using Ssd.Weights.Tensors;

namespace Ssd.Engine.Detection;

/// <summary>
/// MERGE GLUE (the only place the detector meets helper `engine`'s network and helper `pre`'s preprocessing).
/// Replace the two bodies below with adapters once src/Ssd.Engine/Network (SsdNetwork) and
/// src/Ssd.Kernels/Preprocess are merged:
///   CreateNetwork  -> wrap `new SsdNetwork(model, tensors, backend)`: Forward = its loc/conf, Priors = its priors;
///   CreatePreprocessor -> wrap the preprocess kernels / reference for model.Input at the chosen input size.
/// </summary>
public static class DetectorGlue
{
    public static Func<ModelDescription, IReadOnlyDictionary<string, TensorData>, DetectorBackend, ISsdNetwork> CreateNetwork { get; set; } =
        (model, _, _) => throw new NotSupportedException($"{model.Name}: the network engine is not part of this build yet (DetectorGlue.CreateNetwork)");

    public static Func<ModelDescription, IPreprocessor> CreatePreprocessor { get; set; } =
        model => throw new NotSupportedException($"{model.Name}: image preprocessing is not part of this build yet (DetectorGlue.CreatePreprocessor)");
}
