namespace Ssd.Engine.Detection;

/// <summary>
/// Per-call settings of <see cref="SsdDetector.Detect(Imaging.RgbImage, DetectOptions?)"/> and its overloads; a null
/// property keeps the detector's own (<see cref="SsdDetectorOptions"/>, else the model's). A call gives exactly what a
/// detector built with the same settings gives: the network runs as always, only the post-processing differs.
/// </summary>
public sealed record DetectOptions
{
    /// <summary>Report detections scoring above this probability (the flavour's own comparison; 0 to 1).</summary>
    public float? ConfidenceThreshold { get; init; }

    /// <summary>Suppress a box overlapping a better one of its class by more than this IoU (per-class NMS; above 0, at most 1).</summary>
    public float? NmsThreshold { get; init; }

    /// <summary>
    /// Report at most this many detections per image, the best first (positive). The model's own per-image cap
    /// (Caffe keep_top_k, torchvision detections_per_img) still applies when it is smaller.
    /// </summary>
    public int? MaxDetections { get; init; }

    /// <summary>
    /// Report only these class ids (the network's indices, as <see cref="Detection.ClassId"/>; the background is not
    /// one). The model's per-image cap then counts only these classes' detections, so a class is never crowded out by
    /// classes that were not asked for. Null: every class.
    /// </summary>
    public IReadOnlyCollection<int>? Classes { get; init; }
}
