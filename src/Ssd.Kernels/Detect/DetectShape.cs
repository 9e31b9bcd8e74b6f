namespace Ssd.Kernels.Detect;

/// <summary>
/// The detection-output kernels' sizes and rules (<see cref="PostProcessRules.Shape"/>). A segment is one (image,
/// non-background class) pair; each segment has at most TopK candidates (bits of the IoU mask: Words per
/// candidate). Iou is the <see cref="Weights.Model.ModelFlavor"/> whose NMS rule applies; HigherPriorFirst and
/// CoordinateTrick are 0 or 1. ItemBits is the width of the prior index in the segment sort key, MergeBits that of
/// the class-major candidate position in the merge key. Capacity is the detections an image can report (its
/// keep_top_k, or every candidate when uncapped).
/// </summary>
public readonly record struct DetectShape(int Images, int Priors, int Classes, int Background, int TopK, int Words,
    float ScoreThreshold, float IouThreshold, int Iou, int HigherPriorFirst, int CoordinateTrick, int ItemBits, int MergeBits, int Capacity)
{
    public int Segments => Images * (Classes - 1);

    /// <summary>Candidate slots per image: (Classes - 1) x TopK.</summary>
    public int PerImage => (Classes - 1) * TopK;

    /// <summary>Floats per image in the compact result: the count, then Capacity x (class, score, x1, y1, x2, y2).</summary>
    public int Stride => 1 + DetectKey.DetectionFloats * Capacity;

    /// <summary>The class of a segment's class part (the background is skipped).</summary>
    public int ClassOf(int segmentClass) => segmentClass < Background ? segmentClass : segmentClass + 1;

    /// <summary>The sort item of a prior, and back (the map is its own inverse): P-1-prior when the higher prior ranks first.</summary>
    public int ItemOf(int prior) => HigherPriorFirst != 0 ? Priors - 1 - prior : prior;
}
