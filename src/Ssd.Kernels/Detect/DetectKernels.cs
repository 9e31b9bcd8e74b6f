using ILGPU;
using Ssd.Kernels.Core;
using Ssd.Kernels.Nms;
using Ssd.Weights.Model;

namespace Ssd.Kernels.Detect;

/// <summary>The ILGPU kernels of the detection output (<see cref="PostProcessRules"/> steps 2, 4 and 5), in the
/// order <see cref="DetectOp"/> launches them.</summary>
public static class DetectKernels
{
    /// <summary>
    /// Version 1: one key per (segment, prior): segment, score descending, then the prior's item (the prior, or
    /// P-1-prior when the higher prior ranks first). Scores not strictly above the threshold are excluded.
    /// </summary>
    [Kernel("detect")]
    public static void SegmentKeys1(Index1D t, ArrayView<float> scores, ArrayView<ulong> keys, DetectShape s)
    {
        int segment = t / s.Priors, prior = t % s.Priors;
        int n = segment / (s.Classes - 1), cls = s.ClassOf(segment % (s.Classes - 1));
        float score = scores[((long)(int)n * s.Priors + prior) * s.Classes + cls];
        int item = s.ItemOf(prior);
        keys[t] = score > s.ScoreThreshold ? DetectKey.Make(segment, score, item, s.ItemBits) : DetectKey.MakeExcluded(segment, item, s.ItemBits);
    }

    /// <summary>Version 1: the first TopK sorted keys of each segment that are candidates: their prior and score; -1 marks none.</summary>
    [Kernel("detect")]
    public static void Candidates1(Index1D t, ArrayView<ulong> sortedKeys, ArrayView<int> candidates, ArrayView<float> candidateScores, DetectShape s)
    {
        int segment = t / s.TopK, r = t % s.TopK;
        ulong key = sortedKeys[(long)(int)segment * s.Priors + r];
        if (DetectKey.IsCandidate(key, s.ItemBits))
        {
            candidates[t] = s.ItemOf(DetectKey.Item(key, s.ItemBits));
            candidateScores[t] = DetectKey.Score(key, s.ItemBits);
        }
        else
        {
            candidates[t] = -1;
            candidateScores[t] = 0f;
        }
    }

    /// <summary>
    /// Version 1 (CoordinateTrick only), one thread per image: the shift c x (max coordinate + 1) of each segment
    /// when the image has 1 to <see cref="PostProcessRules.CoordinateTrickLimit"/> candidates, else 0 (rules step 4),
    /// stored so that no fused multiply-add can change the shifted coordinates. Per-class NMS over shifted boxes is
    /// torchvision's one NMS over all: clipped boxes of different classes end up apart and never suppress each other.
    /// </summary>
    [Kernel("detect")]
    public static void CoordinateTrick1(Index1D n, ArrayView<float> boxes, ArrayView<int> candidates, ArrayView<float> offsets, DetectShape s)
    {
        long first = (long)(int)n * s.PerImage;
        int count = 0;
        float max = float.NegativeInfinity;
        for (int k = 0; k < s.PerImage; k++)
        {
            int prior = candidates[first + k];
            if (prior < 0) continue;
            count++;
            long b = 4 * ((long)(int)n * s.Priors + prior);
            for (int j = 0; j < 4; j++) max = NetMath.Max(max, boxes[b + j]);
        }
        bool trick = count > 0 && count <= PostProcessRules.CoordinateTrickLimit;
        float step = max + 1f;
        for (int sc = 0; sc < s.Classes - 1; sc++)
            offsets[(long)(int)n * (s.Classes - 1) + sc] = trick ? s.ClassOf(sc) * step : 0f;
    }

    /// <summary>
    /// Version 1: one thread per (segment, candidate i, 32-candidate block): bit b is set when candidate 32 * block + b
    /// comes after i and i, once kept, suppresses it by the rule (<see cref="Iou"/>).
    /// With CoordinateTrick the boxes are shifted by the segment's offset first (0 unless the trick is taken).
    /// </summary>
    [Kernel("detect")]
    public static void IouMask1(Index1D t, ArrayView<float> boxes, ArrayView<int> candidates, ArrayView<float> offsets, ArrayView<uint> mask, DetectShape s)
    {
        int word = t % s.Words, rest = t / s.Words, i = rest % s.TopK, segment = rest / s.TopK;
        int n = segment / (s.Classes - 1);
        long baseCand = (long)(int)segment * s.TopK;
        uint bits = 0;
        int bi = candidates[baseCand + i];
        if (bi >= 0)
        {
            float shift = s.CoordinateTrick != 0 ? offsets[segment] : 0f;
            bool shifted = s.CoordinateTrick != 0 && shift != 0f;
            long a = 4 * ((long)(int)n * s.Priors + bi);
            float ax1 = boxes[a], ay1 = boxes[a + 1], ax2 = boxes[a + 2], ay2 = boxes[a + 3];
            if (shifted) { ax1 += shift; ay1 += shift; ax2 += shift; ay2 += shift; }
            for (int b = 0; b < 32; b++)
            {
                int j = word * 32 + b;
                if (j <= i || j >= s.TopK) continue;
                int bj = candidates[baseCand + j];
                if (bj < 0) break;
                long c = 4 * ((long)(int)n * s.Priors + bj);
                float bx1 = boxes[c], by1 = boxes[c + 1], bx2 = boxes[c + 2], by2 = boxes[c + 3];
                if (shifted) { bx1 += shift; by1 += shift; bx2 += shift; by2 += shift; }
                if (Iou.Suppresses((ModelFlavor)s.Iou, s.IouThreshold, ax1, ay1, ax2, ay2, bx1, by1, bx2, by2))
                    bits |= 1u << b;
            }
        }
        mask[t] = bits;
    }

    /// <summary>
    /// Version 1: one thread per segment walks its candidates best first; one not yet removed is kept and removes
    /// everything its mask row marks (the host's greedy loop: a box is dropped only by a kept, better box).
    /// </summary>
    [Kernel("detect")]
    public static void GreedyScan1(Index1D segment, ArrayView<int> candidates, ArrayView<uint> mask, ArrayView<uint> removed, ArrayView<int> keep, DetectShape s)
    {
        long baseCand = (long)(int)segment * s.TopK, baseWords = (long)(int)segment * s.Words;
        for (int w = 0; w < s.Words; w++) removed[baseWords + w] = 0;
        for (int i = 0; i < s.TopK; i++)
        {
            if (candidates[baseCand + i] < 0)
            {
                keep[baseCand + i] = 0;
                continue;
            }
            bool isRemoved = (removed[baseWords + i / 32] & (1u << (i % 32))) != 0;
            keep[baseCand + i] = isRemoved ? 0 : 1;
            if (isRemoved) continue;
            long row = (baseCand + i) * s.Words;
            for (int w = i / 32; w < s.Words; w++) removed[baseWords + w] |= mask[row + w];
        }
    }

    /// <summary>
    /// Version 1: one key per (image, class-major candidate position): image, score descending, position. Every
    /// flavour lists its kept boxes class by class in NMS order and then sorts them stably by score, so the position
    /// is the tie order. Boxes not kept are excluded.
    /// </summary>
    [Kernel("detect")]
    public static void MergeKeys1(Index1D t, ArrayView<int> keep, ArrayView<float> candidateScores, ArrayView<ulong> keys, DetectShape s)
    {
        int n = t / s.PerImage, item = t % s.PerImage;
        keys[t] = keep[t] != 0 ? DetectKey.Make(n, candidateScores[t], item, s.MergeBits) : DetectKey.MakeExcluded(n, item, s.MergeBits);
    }

    /// <summary>
    /// Version 1: one thread per image writes its compact result: the count, then up to Capacity detections
    /// (class, score, x1, y1, x2, y2) best first, boxes in the network's frame (the host scales them to pixels).
    /// </summary>
    [Kernel("detect")]
    public static void Output1(Index1D n, ArrayView<ulong> mergedKeys, ArrayView<int> candidates, ArrayView<float> boxes, ArrayView<float> result, DetectShape s)
    {
        long first = (long)(int)n * s.PerImage, o = (long)(int)n * s.Stride;
        int count = 0;
        for (int j = 0; j < s.PerImage && count < s.Capacity; j++)
        {
            ulong key = mergedKeys[first + j];
            if (!DetectKey.IsCandidate(key, s.MergeBits)) break; // kept boxes sort first
            int item = DetectKey.Item(key, s.MergeBits);
            int prior = candidates[first + item];
            long b = 4 * ((long)(int)n * s.Priors + prior), d = o + 1 + (long)DetectKey.DetectionFloats * count;
            result[d] = s.ClassOf(item / s.TopK);
            result[d + 1] = DetectKey.Score(key, s.MergeBits);
            result[d + 2] = boxes[b];
            result[d + 3] = boxes[b + 1];
            result[d + 4] = boxes[b + 2];
            result[d + 5] = boxes[b + 3];
            count++;
        }
        result[o] = count;
    }
}
