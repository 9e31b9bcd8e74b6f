using Ssd.Kernels.Core;
using Ssd.Weights.Model;

namespace Ssd.Kernels.Nms;

/// <summary>
/// The one definition of each flavour's NMS overlap and suppression test, between a kept box a and a later box b
/// (x1, y1, x2, y2, no +1). The host NMS (its scalar path; its vector rows do the same arithmetic lane by lane) and
/// the device kernels both call it; <see cref="NetMath"/> keeps min, max and NaN what .NET computes on the host.
/// <list type="bullet">
/// <item>Caffe ApplyNMSFast: JaccardOverlap(b, a): 0 for boxes apart or an intersection without positive width and
/// height, an inverted box has size 0; b is suppressed
/// unless the overlap is &lt;= threshold (so a NaN overlap suppresses).</item>
/// <item>ssd.pytorch box_utils.nms: inter (clamped at 0) / ((area_b - inter) + area_a), suppressed unless &lt;= threshold.</item>
/// <item>torchvision ops.nms: inter (clamped at 0) / (area_a + area_b - inter) &gt; threshold suppresses (NaN does not).</item>
/// </list>
/// </summary>
internal static class Iou
{
    public static float Overlap(ModelFlavor rule, float ax1, float ay1, float ax2, float ay2, float bx1, float by1, float bx2, float by2)
    {
        if (rule == ModelFlavor.Caffe) return JaccardOverlap(bx1, by1, bx2, by2, ax1, ay1, ax2, ay2);
        float areaA = (ax2 - ax1) * (ay2 - ay1), areaB = (bx2 - bx1) * (by2 - by1);
        float iw = NetMath.Max(NetMath.Min(ax2, bx2) - NetMath.Max(ax1, bx1), 0f);
        float ih = NetMath.Max(NetMath.Min(ay2, by2) - NetMath.Max(ay1, by1), 0f);
        float inter = iw * ih;
        return rule == ModelFlavor.SsdPytorch ? inter / ((areaB - inter) + areaA) : inter / (areaA + areaB - inter);
    }

    /// <summary>
    /// Whether a kept a suppresses b. The NaN test is on the bits: written as !(overlap &lt;= threshold), the PoCL
    /// build let NaN overlaps through (it kept NaN boxes that the host suppresses).
    /// </summary>
    public static bool Suppresses(ModelFlavor rule, float threshold, float ax1, float ay1, float ax2, float ay2, float bx1, float by1, float bx2, float by2)
    {
        float overlap = Overlap(rule, ax1, ay1, ax2, ay2, bx1, by1, bx2, by2);
        return rule == ModelFlavor.Torchvision ? overlap > threshold : NetMath.IsNaN(overlap) || overlap > threshold;
    }

    /// <summary>Caffe's JaccardOverlap(a, b), normalised (no +1).</summary>
    private static float JaccardOverlap(float ax1, float ay1, float ax2, float ay2, float bx1, float by1, float bx2, float by2)
    {
        if (NetMath.Greater(bx1, ax2) || NetMath.Greater(ax1, bx2) || NetMath.Greater(by1, ay2) || NetMath.Greater(ay1, by2)) return 0f;
        // Not apart and a NaN coordinate: the host's min / max and sizes all carry it into the overlap.
        if (NetMath.IsNaN(ax1) || NetMath.IsNaN(ay1) || NetMath.IsNaN(ax2) || NetMath.IsNaN(ay2)
            || NetMath.IsNaN(bx1) || NetMath.IsNaN(by1) || NetMath.IsNaN(bx2) || NetMath.IsNaN(by2)) return float.NaN;
        float iw = NetMath.Min(ax2, bx2) - NetMath.Max(ax1, bx1), ih = NetMath.Min(ay2, by2) - NetMath.Max(ay1, by1);
        // Caffe: "if (intersect_width > 0 && intersect_height > 0)", else 0 (touching or zero-size boxes, such as
        // boxes clipped onto the border).
        if (!(iw > 0f) || !(ih > 0f)) return 0f;
        float inter = iw * ih;
        float sa = ax2 < ax1 || ay2 < ay1 ? 0f : (ax2 - ax1) * (ay2 - ay1);
        float sb = bx2 < bx1 || by2 < by1 ? 0f : (bx2 - bx1) * (by2 - by1);
        return inter / (sa + sb - inter);
    }
}
