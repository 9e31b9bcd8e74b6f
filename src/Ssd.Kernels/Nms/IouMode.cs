namespace Ssd.Kernels.Nms;

/// <summary>Which IoU formula suppresses: Caffe's JaccardOverlap or torchvision's box_iou (both without +1).</summary>
public enum IouMode
{
    /// <summary>Caffe: an inverted box has size 0; disjoint boxes have IoU 0 (no division).</summary>
    Caffe = 0,
    /// <summary>torchvision: area (x2-x1)(y2-y1), intersection clamped at 0, inter / union (0/0 is NaN: never suppresses).</summary>
    Torchvision = 1,
}
