namespace Ssd.Kernels.Nms;

/// <summary>Which IoU formula suppresses: Caffe's JaccardOverlap or torchvision's box_iou (both without +1).</summary>
public enum IouMode
{
    /// <summary>Caffe: an inverted box has size 0; disjoint boxes have IoU 0 (no division).</summary>
    Caffe = 0,
    /// <summary>torchvision: area (x2-x1)(y2-y1), intersection clamped at 0, inter / union (0/0 is NaN: never suppresses).</summary>
    Torchvision = 1,
}

/// <summary>
/// Per-class NMS settings, as Caffe's DetectionOutput / torchvision's SSD postprocess: for every class but the
/// background, scores strictly above <see cref="ScoreThreshold"/>, the best <see cref="PreNmsTopK"/>, greedy
/// suppression of boxes with IoU strictly above <see cref="IouThreshold"/>, then the best <see cref="KeepTopK"/>
/// detections per image over all classes.
/// </summary>
/// <remarks>
/// Tie order (deterministic, documented): equal scores within a class keep the lower box index first (as Caffe's
/// stable_sort); equal scores across classes keep the lower class first, then the class's own order.
/// Output is per image sorted by score, not grouped by class as Caffe's output blob is.
/// </remarks>
public sealed record NmsConfig(int NumClasses, float ScoreThreshold, float IouThreshold, int PreNmsTopK, int KeepTopK,
    IouMode Iou = IouMode.Caffe, int BackgroundLabel = 0)
{
    /// <summary>Caffe SSD300 VOC deploy: 21 classes, conf 0.01, nms 0.45, top_k 400, keep_top_k 200.</summary>
    public static NmsConfig CaffeVoc { get; } = new(21, 0.01f, 0.45f, 400, 200);

    /// <summary>torchvision ssd300_vgg16: score_thresh 0.01, nms_thresh 0.45, topk_candidates 400, detections 200.</summary>
    public static NmsConfig TorchvisionVoc { get; } = new(21, 0.01f, 0.45f, 400, 200, IouMode.Torchvision);

    /// <summary>Floats per detection: image, class, score, x1, y1, x2, y2.</summary>
    public const int DetectionSize = 7;

    internal void Validate(int numPriors)
    {
        if (NumClasses < 2) throw new ArgumentException($"nms: {NumClasses} classes; need the background and at least one more");
        if (BackgroundLabel < 0 || BackgroundLabel >= NumClasses) throw new ArgumentException($"nms: background label {BackgroundLabel} is not a class");
        if (PreNmsTopK <= 0 || KeepTopK <= 0) throw new ArgumentException($"nms: top-k values must be positive (pre {PreNmsTopK}, keep {KeepTopK})");
        if (float.IsNaN(ScoreThreshold) || float.IsNaN(IouThreshold)) throw new ArgumentException("nms: thresholds must not be NaN");
        if (numPriors <= 0) throw new ArgumentException($"nms: {numPriors} boxes");
    }
}

/// <summary>One detection: image, class, score, box corners.</summary>
public readonly record struct Detection(int Image, int Class, float Score, float X1, float Y1, float X2, float Y2);
