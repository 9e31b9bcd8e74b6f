using ILGPU;

namespace Ssd.Kernels.Detect;

/// <summary>
/// The detection-output kernels' sizes and rules (<see cref="PostProcessRules.Shape"/>). A segment is one (image,
/// non-background class) pair; each segment has at most TopK candidates (bits of the IoU mask: Words per
/// candidate). Iou is the <see cref="Weights.Model.ModelFlavor"/> whose NMS rule applies; HigherPriorFirst and
/// CoordinateTrick are 0 or 1. ItemBits is the width of the prior index in the segment sort key, MergeBits that of
/// the class-major candidate position in the merge key. Capacity is the detections an image can report (its
/// keep_top_k, or every candidate when uncapped).
/// </summary>
internal readonly record struct DetectShape(int Images, int Priors, int Classes, int Background, int TopK, int Words,
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

/// <summary>
/// The buffers of the detect kernels, one argument that every kernel takes with the shape: Boxes [N, P, 4] decoded;
/// Scores [N, P, C] probabilities; Keys the segment sort keys; Candidates and CandidateScores each segment's first
/// TopK (prior, score), -1 for none; Offsets the coordinate-trick shift per segment; Mask the IoU bitmask [segment,
/// candidate, word]; Removed the greedy scan's working set; Keep 1 per kept candidate; Merged the merge sort keys;
/// Result the compact output [N, Stride].
/// </summary>
internal readonly record struct DetectViews(ArrayView<float> Boxes, ArrayView<float> Scores, ArrayView<ulong> Keys,
    ArrayView<int> Candidates, ArrayView<float> CandidateScores, ArrayView<float> Offsets, ArrayView<uint> Mask,
    ArrayView<uint> Removed, ArrayView<int> Keep, ArrayView<ulong> Merged, ArrayView<float> Result);
