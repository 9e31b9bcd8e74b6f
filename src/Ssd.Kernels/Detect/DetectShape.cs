namespace Ssd.Kernels.Detect;

/// <summary>Which peer library's post-processing rules the device detection output follows.</summary>
public enum DetectFlavor
{
    /// <summary>Caffe SSD DetectionOutput: equal scores keep the lower prior first; JaccardOverlap, suppress unless &lt;= thr.</summary>
    Caffe = 0,
    /// <summary>ssd.pytorch Detect: equal scores take the HIGHER prior first; union = (area_j - inter) + area_i, suppress unless &lt;= thr.</summary>
    SsdPytorch = 1,
    /// <summary>torchvision SSD.postprocess_detections: lower prior first; boxes clipped; batched_nms (coordinate trick when &lt;= 1000 candidates); suppress IoU &gt; thr.</summary>
    Torchvision = 2,
}

/// <summary>
/// Sizes and rules shared by the detection-output kernels. A segment is one (image, non-background class) pair;
/// each segment has at most TopK candidates (bits of the IoU mask: Words per candidate). ItemBits is the width of
/// the prior index in the segment sort key, MergeBits that of the class-major candidate position in the merge key.
/// Capacity is the detections an image can report (its keep_top_k, or every candidate when uncapped).
/// </summary>
public readonly record struct DetectShape(int Images, int Priors, int Classes, int Background, int TopK, int Words,
    float ScoreThreshold, float IouThreshold, int Flavor, int ItemBits, int MergeBits, int Capacity)
{
    public int Segments => Images * (Classes - 1);

    /// <summary>Candidate slots per image: (Classes - 1) x TopK.</summary>
    public int PerImage => (Classes - 1) * TopK;

    /// <summary>Floats per image in the compact result: the count, then Capacity x (class, score, x1, y1, x2, y2).</summary>
    public int Stride => 1 + DetectKey.DetectionFloats * Capacity;

    /// <summary>torchvision's batched_nms uses the coordinate trick up to this many boxes on the CPU (4000 coordinates).</summary>
    public const int CoordinateTrickLimit = 1000;
}
