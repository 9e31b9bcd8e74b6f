using ILGPU;
using Ssd.Kernels.Core;
using Ssd.Kernels.Nms;
using Ssd.Weights.Model;

namespace Ssd.Kernels.Detect;

/// <summary>The ILGPU kernels of the detection output (<see cref="PostProcessRules"/> steps 2, 4 and 5), in the
/// order <see cref="DetectOp"/> launches them.</summary>
internal static class DetectKernels
{
    /// <summary>
    /// Version 1: one key per (segment, prior): segment, score descending, then the prior's item (the prior, or
    /// P-1-prior when the higher prior ranks first). Scores not strictly above the threshold are excluded.
    /// </summary>
    [Kernel("detect")]
    public static void SegmentKeys1(Index1D t, DetectShape s, DetectViews v)
    {
        int segment = t / s.Priors, prior = t % s.Priors;
        int n = segment / (s.Classes - 1), cls = s.ClassOf(segment % (s.Classes - 1));
        float score = v.Scores[((long)(int)n * s.Priors + prior) * s.Classes + cls];
        int item = s.ItemOf(prior);
        v.Keys[t] = score > s.ScoreThreshold ? DetectKey.Make(segment, score, item, s.ItemBits) : DetectKey.MakeExcluded(segment, item, s.ItemBits);
    }

    /// <summary>Version 1: the first TopK sorted keys of each segment that are candidates: their prior and score; -1 marks none.</summary>
    [Kernel("detect")]
    public static void Candidates1(Index1D t, DetectShape s, DetectViews v)
    {
        int segment = t / s.TopK, r = t % s.TopK;
        ulong key = v.Keys[(long)(int)segment * s.Priors + r];
        bool candidate = DetectKey.IsCandidate(key, s.ItemBits);
        v.Candidates[t] = candidate ? s.ItemOf(DetectKey.Item(key, s.ItemBits)) : -1;
        v.CandidateScores[t] = candidate ? DetectKey.Score(key, s.ItemBits) : 0f;
    }

    /// <summary>
    /// Version 1 (CoordinateTrick only), one thread per image: the shift c x <see cref="PostProcessRules.CoordinateTrickStep"/>
    /// of each segment (0 when the image takes no trick; rules step 4),
    /// stored so that no fused multiply-add can change the shifted coordinates. Per-class NMS over shifted boxes is
    /// torchvision's one NMS over all: clipped boxes of different classes end up apart and never suppress each other.
    /// </summary>
    [Kernel("detect")]
    public static void CoordinateTrick1(Index1D n, DetectShape s, DetectViews v)
    {
        long first = (long)(int)n * s.PerImage;
        int count = 0;
        float max = float.NegativeInfinity;
        for (int k = 0; k < s.PerImage; k++)
        {
            int prior = v.Candidates[first + k];
            if (prior < 0) continue;
            count++;
            long b = 4 * ((long)(int)n * s.Priors + prior);
            for (int j = 0; j < 4; j++) max = NetMath.Max(max, v.Boxes[b + j]);
        }
        float step = PostProcessRules.CoordinateTrickStep(count, max);
        for (int sc = 0; sc < s.Classes - 1; sc++) v.Offsets[(long)(int)n * (s.Classes - 1) + sc] = s.ClassOf(sc) * step;
    }

    /// <summary>
    /// Version 1: one thread per (segment, candidate i, 32-candidate block): bit b is set when candidate 32 * block + b
    /// comes after i and i, once kept, suppresses it by the rule (<see cref="Iou"/>).
    /// With CoordinateTrick the boxes are shifted by the segment's offset first (0 unless the trick is taken).
    /// </summary>
    [Kernel("detect")]
    public static void IouMask1(Index1D t, DetectShape s, DetectViews v)
    {
        int word = t % s.Words, rest = t / s.Words, i = rest % s.TopK, segment = rest / s.TopK;
        int n = segment / (s.Classes - 1);
        long baseCand = (long)(int)segment * s.TopK;
        uint bits = 0;
        int bi = v.Candidates[baseCand + i];
        if (bi >= 0)
        {
            float shift = s.CoordinateTrick != 0 ? v.Offsets[segment] : 0f;
            bool shifted = s.CoordinateTrick != 0 && shift != 0f;
            long a = 4 * ((long)(int)n * s.Priors + bi);
            float ax1 = v.Boxes[a], ay1 = v.Boxes[a + 1], ax2 = v.Boxes[a + 2], ay2 = v.Boxes[a + 3];
            if (shifted) { ax1 += shift; ay1 += shift; ax2 += shift; ay2 += shift; }
            for (int b = 0; b < 32; b++)
            {
                int j = word * 32 + b;
                if (j <= i || j >= s.TopK) continue;
                int bj = v.Candidates[baseCand + j];
                if (bj < 0) break;
                long c = 4 * ((long)(int)n * s.Priors + bj);
                float bx1 = v.Boxes[c], by1 = v.Boxes[c + 1], bx2 = v.Boxes[c + 2], by2 = v.Boxes[c + 3];
                if (shifted) { bx1 += shift; by1 += shift; bx2 += shift; by2 += shift; }
                if (Iou.Suppresses((ModelFlavor)s.Iou, s.IouThreshold, ax1, ay1, ax2, ay2, bx1, by1, bx2, by2))
                    bits |= 1u << b;
            }
        }
        v.Mask[t] = bits;
    }

    /// <summary>
    /// Version 1: one thread per segment walks its candidates best first; one not yet removed is kept and removes
    /// everything its mask row marks (the host's greedy loop: a box is dropped only by a kept, better box).
    /// </summary>
    [Kernel("detect")]
    public static void GreedyScan1(Index1D segment, DetectShape s, DetectViews v)
    {
        long baseCand = (long)(int)segment * s.TopK, baseWords = (long)(int)segment * s.Words;
        for (int w = 0; w < s.Words; w++) v.Removed[baseWords + w] = 0;
        for (int i = 0; i < s.TopK; i++)
        {
            bool kept = v.Candidates[baseCand + i] >= 0 && (v.Removed[baseWords + i / 32] & (1u << (i % 32))) == 0;
            v.Keep[baseCand + i] = kept ? 1 : 0;
            if (!kept) continue;
            long row = (baseCand + i) * s.Words;
            for (int w = i / 32; w < s.Words; w++) v.Removed[baseWords + w] |= v.Mask[row + w];
        }
    }

    /// <summary>
    /// Version 1: one key per (image, class-major candidate position): image, score descending, position. Every
    /// flavour lists its kept boxes class by class in NMS order and then sorts them stably by score, so the position
    /// is the tie order. Boxes not kept are excluded.
    /// </summary>
    [Kernel("detect")]
    public static void MergeKeys1(Index1D t, DetectShape s, DetectViews v)
    {
        int n = t / s.PerImage, item = t % s.PerImage;
        v.Merged[t] = v.Keep[t] != 0 ? DetectKey.Make(n, v.CandidateScores[t], item, s.MergeBits) : DetectKey.MakeExcluded(n, item, s.MergeBits);
    }

    /// <summary>
    /// Version 1: one thread per image writes its compact result: the count, then up to Capacity detections
    /// (class, score, x1, y1, x2, y2) best first, boxes in the network's frame (the host scales them to pixels).
    /// </summary>
    [Kernel("detect")]
    public static void Output1(Index1D n, DetectShape s, DetectViews v)
    {
        long first = (long)(int)n * s.PerImage, o = (long)(int)n * s.Stride;
        int count = 0;
        for (int j = 0; j < s.PerImage && count < s.Capacity; j++)
        {
            ulong key = v.Merged[first + j];
            if (!DetectKey.IsCandidate(key, s.MergeBits)) break; // kept boxes sort first
            int item = DetectKey.Item(key, s.MergeBits);
            long b = 4 * ((long)(int)n * s.Priors + v.Candidates[first + item]), d = o + 1 + (long)DetectKey.DetectionFloats * count++;
            v.Result[d] = s.ClassOf(item / s.TopK);
            v.Result[d + 1] = DetectKey.Score(key, s.MergeBits);
            for (int k = 0; k < 4; k++) v.Result[d + 2 + k] = v.Boxes[b + k];
        }
        v.Result[o] = count;
    }
}
