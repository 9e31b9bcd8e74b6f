using Ssd.Kernels.Core;

namespace Ssd.Kernels.Detect;

/// <summary>One reported detection in the network's frame (before scaling to the original image).</summary>
public readonly record struct FrameDetection(int Class, float Score, float X1, float Y1, float X2, float Y2);

/// <summary>
/// Plain C# detection output over decoded (and, for torchvision, clipped) boxes [N, P, 4] and class probabilities
/// [N, P, C], with the rules of <see cref="DetectKernels"/>; plus the per-pair helpers the kernels share.
/// Per image: per class c != background, scores strictly above the threshold ordered best first (ties: lower prior
/// first, ssd.pytorch higher), the first TopK; greedy NMS by the flavour's rule; all kept boxes ordered by score,
/// ties in class order then NMS order; the first Capacity.
/// </summary>
public static class DetectReference
{
    /// <summary>The sort item of a prior (and back: the map is its own inverse): ssd.pytorch stores P-1-prior.</summary>
    public static int ItemOf(int prior, int priors, int flavor) => flavor == (int)DetectFlavor.SsdPytorch ? priors - 1 - prior : prior;

    /// <summary>
    /// Whether kept box a suppresses the later box b:
    /// Caffe: !(JaccardOverlap(b, a) &lt;= thr) (a NaN overlap suppresses);
    /// ssd.pytorch: !(inter / ((area_b - inter) + area_a) &lt;= thr), inter clamped at 0;
    /// torchvision: inter / (area_a + area_b - inter) &gt; thr.
    /// </summary>
    public static bool Suppresses(float ax1, float ay1, float ax2, float ay2, float bx1, float by1, float bx2, float by2, int flavor, float threshold)
    {
        if (flavor == (int)DetectFlavor.Caffe)
            return NotAtMost(JaccardOverlap(bx1, by1, bx2, by2, ax1, ay1, ax2, ay2), threshold);
        if (flavor == (int)DetectFlavor.SsdPytorch)
        {
            float iw = NetMath.Max(NetMath.Min(bx2, ax2) - NetMath.Max(bx1, ax1), 0f);
            float ih = NetMath.Max(NetMath.Min(by2, ay2) - NetMath.Max(by1, ay1), 0f);
            float inter = iw * ih;
            float areaA = (ax2 - ax1) * (ay2 - ay1), areaB = (bx2 - bx1) * (by2 - by1);
            return NotAtMost(inter / ((areaB - inter) + areaA), threshold);
        }
        float areaI = (ax2 - ax1) * (ay2 - ay1), areaJ = (bx2 - bx1) * (by2 - by1);
        float w = NetMath.Max(0f, NetMath.Min(ax2, bx2) - NetMath.Max(ax1, bx1));
        float h = NetMath.Max(0f, NetMath.Min(ay2, by2) - NetMath.Max(ay1, by1));
        float i2 = w * h;
        return i2 / (areaI + areaJ - i2) > threshold;
    }

    /// <summary>
    /// !(overlap &lt;= threshold), spelled with an explicit NaN test: written as the negated comparison, the PoCL
    /// build let NaN overlaps through (observed: it kept NaN boxes that the host suppresses), as if compiled to the
    /// ordered "overlap &gt; threshold".
    /// </summary>
    private static bool NotAtMost(float overlap, float threshold) => NetMath.IsNaN(overlap) || overlap > threshold;

    /// <summary>Caffe's JaccardOverlap(a, b) without +1: disjoint boxes 0, an inverted box has size 0.</summary>
    public static float JaccardOverlap(float ax1, float ay1, float ax2, float ay2, float bx1, float by1, float bx2, float by2)
    {
        if (NetMath.Greater(bx1, ax2) || NetMath.Greater(ax1, bx2) || NetMath.Greater(by1, ay2) || NetMath.Greater(ay1, by2)) return 0f;
        // Not apart and a NaN coordinate: the host's min / max and sizes all carry it into the overlap.
        if (NetMath.IsNaN(ax1) || NetMath.IsNaN(ay1) || NetMath.IsNaN(ax2) || NetMath.IsNaN(ay2)
            || NetMath.IsNaN(bx1) || NetMath.IsNaN(by1) || NetMath.IsNaN(bx2) || NetMath.IsNaN(by2)) return float.NaN;
        float iw = NetMath.Min(ax2, bx2) - NetMath.Max(ax1, bx1);
        float ih = NetMath.Min(ay2, by2) - NetMath.Max(ay1, by1);
        float inter = iw * ih;
        float sa = ax2 < ax1 || ay2 < ay1 ? 0f : (ax2 - ax1) * (ay2 - ay1);
        float sb = bx2 < bx1 || by2 < by1 ? 0f : (bx2 - bx1) * (by2 - by1);
        return inter / (sa + sb - inter);
    }

    /// <summary>The detections of every image, best first, boxes in the network frame (see the class summary).</summary>
    public static FrameDetection[][] Run(ReadOnlySpan<float> boxes, ReadOnlySpan<float> scores, DetectShape s)
    {
        int p = s.Priors, c = s.Classes;
        var result = new FrameDetection[s.Images][];
        for (int n = 0; n < s.Images; n++)
        {
            var b = boxes.Slice(4 * n * p, 4 * p).ToArray();
            var sc = scores.Slice(n * p * c, p * c).ToArray();
            var perClass = new List<(int Class, List<int> Candidates)>();
            for (int cls = 0; cls < c; cls++)
            {
                if (cls == s.Background) continue;
                int k = cls;
                var cand = Enumerable.Range(0, p).Where(i => sc[i * c + k] > s.ScoreThreshold);
                var ordered = s.Flavor == (int)DetectFlavor.SsdPytorch
                    ? cand.OrderByDescending(i => sc[i * c + k]).ThenByDescending(i => i)
                    : cand.OrderByDescending(i => sc[i * c + k]).ThenBy(i => i);
                perClass.Add((cls, ordered.Take(s.TopK).ToList()));
            }
            int total = perClass.Sum(x => x.Candidates.Count);
            float step = 0f;
            bool trick = s.Flavor == (int)DetectFlavor.Torchvision && total > 0 && total <= DetectShape.CoordinateTrickLimit;
            if (trick)
            {
                float max = float.NegativeInfinity;
                foreach (var (_, cand) in perClass)
                    foreach (int i in cand)
                        for (int j = 0; j < 4; j++) max = MathF.Max(max, b[4 * i + j]);
                step = max + 1f;
            }
            var all = new List<FrameDetection>();
            foreach (var (cls, cand) in perClass)
            {
                float shift = trick ? cls * step : 0f;
                float[] Box(int i) => trick && shift != 0f
                    ? [b[4 * i] + shift, b[4 * i + 1] + shift, b[4 * i + 2] + shift, b[4 * i + 3] + shift]
                    : [b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]];
                var kept = new List<int>();
                foreach (int i in cand)
                {
                    var bi = Box(i);
                    if (kept.All(k => { var a = Box(k); return !Suppresses(a[0], a[1], a[2], a[3], bi[0], bi[1], bi[2], bi[3], s.Flavor, s.IouThreshold); }))
                        kept.Add(i);
                }
                all.AddRange(kept.Select(i => new FrameDetection(cls, sc[i * c + cls] == 0f ? 0f : sc[i * c + cls], b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3])));
            }
            result[n] = all.OrderByDescending(d => d.Score).Take(s.Capacity).ToArray();
        }
        return result;
    }
}
