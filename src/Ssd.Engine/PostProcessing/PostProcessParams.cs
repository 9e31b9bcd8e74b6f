namespace Ssd.Engine.PostProcessing;

/// <summary>
/// The numbers every flavour needs. TopK is the per-class candidate cap (Caffe top_k, ssd.pytorch top_k,
/// torchvision topk_candidates); KeepTopK the per-image cap after NMS (Caffe keep_top_k, torchvision
/// detections_per_img; 0 or negative = none, as Caffe's -1). ConfIsProbability: Conf already went through softmax.
/// </summary>
public sealed record PostProcessParams(int NumClasses, int BackgroundId, float ConfidenceThreshold, float NmsThreshold,
    int TopK, int KeepTopK, bool ConfIsProbability)
{
    internal void Validate(int numPriors, string who)
    {
        if (NumClasses < 2) throw new ArgumentException($"{who}: {NumClasses} classes; need the background and at least one more");
        if (BackgroundId < 0 || BackgroundId >= NumClasses) throw new ArgumentException($"{who}: background id {BackgroundId} is not one of {NumClasses} classes");
        if (float.IsNaN(ConfidenceThreshold) || float.IsNaN(NmsThreshold)) throw new ArgumentException($"{who}: thresholds must not be NaN");
        if (TopK == 0 || TopK < -1) throw new ArgumentException($"{who}: top_k {TopK} must be positive (or -1 for no cap)");
        if (numPriors <= 0) throw new ArgumentException($"{who}: no priors");
    }
}
