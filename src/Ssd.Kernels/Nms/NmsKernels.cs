using ILGPU;
using Ssd.Kernels.Core;
using Ssd.Kernels.Sort;

namespace Ssd.Kernels.Nms;

/// <summary>Sizes shared by the NMS kernels. A segment is one (image, non-background class) pair.</summary>
public readonly record struct NmsShape(int Images, int Priors, int Classes, int Background, int TopK, int Words, float ScoreThreshold, float IouThreshold, int IouMode, int KeepTopK)
{
    public int Segments => Images * (Classes - 1);
}

/// <summary>
/// ILGPU kernels of the device NMS: score keys, (bitonic sort), top-k candidates, IoU bitmask, greedy scan,
/// merge keys, (bitonic sort), output. Every step is deterministic.
/// </summary>
public static class NmsKernels
{
    private static int ClassOf(int segmentClass, int background) => segmentClass < background ? segmentClass : segmentClass + 1;

    /// <summary>Version 1: one key per (segment, box): segment, score descending, box index; -inf when under threshold.</summary>
    [Kernel("nms")]
    public static void ScoreKeys1(Index1D t, ArrayView<float> scores, ArrayView<ulong> keys, NmsShape s)
    {
        int segment = t / s.Priors, box = t % s.Priors;
        int n = segment / (s.Classes - 1), cls = ClassOf(segment % (s.Classes - 1), s.Background);
        float score = scores[((long)(int)n * s.Priors + box) * s.Classes + cls];
        keys[t] = UniqueKey.Make(segment, score > s.ScoreThreshold ? score : float.NegativeInfinity, box);
    }

    /// <summary>Version 1: the first TopK sorted entries of each segment that pass the threshold; -1 marks none.</summary>
    [Kernel("nms")]
    public static void Candidates1(Index1D t, ArrayView<ulong> sortedKeys, ArrayView<int> candidates, NmsShape s)
    {
        int segment = t / s.TopK, r = t % s.TopK;
        int box = -1;
        if (r < s.Priors)
        {
            ulong key = sortedKeys[(long)(int)segment * s.Priors + r];
            if (UniqueKey.Score(key) > s.ScoreThreshold) box = UniqueKey.Item(key);
        }
        candidates[t] = box;
    }

    /// <summary>IoU of two boxes (x1, y1, x2, y2) in Caffe's (mode 0) or torchvision's (mode 1) formula.</summary>
    public static float Iou(float ax1, float ay1, float ax2, float ay2, float bx1, float by1, float bx2, float by2, int mode)
    {
        if (mode == 0)
        {
            if (bx1 > ax2 || bx2 < ax1 || by1 > ay2 || by2 < ay1) return 0f;
            float iw = IntrinsicMath.Min(ax2, bx2) - IntrinsicMath.Max(ax1, bx1);
            float ih = IntrinsicMath.Min(ay2, by2) - IntrinsicMath.Max(ay1, by1);
            float inter = iw * ih;
            float sa = ax2 < ax1 || ay2 < ay1 ? 0f : (ax2 - ax1) * (ay2 - ay1);
            float sb = bx2 < bx1 || by2 < by1 ? 0f : (bx2 - bx1) * (by2 - by1);
            return inter / (sa + sb - inter);
        }
        float areaA = (ax2 - ax1) * (ay2 - ay1), areaB = (bx2 - bx1) * (by2 - by1);
        float w = IntrinsicMath.Max(IntrinsicMath.Min(ax2, bx2) - IntrinsicMath.Max(ax1, bx1), 0f);
        float h = IntrinsicMath.Max(IntrinsicMath.Min(ay2, by2) - IntrinsicMath.Max(ay1, by1), 0f);
        float i2 = w * h;
        return i2 / (areaA + areaB - i2);
    }

    /// <summary>
    /// Version 1: one thread per (segment, candidate i, 32-candidate block): bit b of the word is set when candidate
    /// 32 * block + b comes after i and overlaps it above the IoU threshold.
    /// </summary>
    [Kernel("nms")]
    public static void IouMask1(Index1D t, ArrayView<float> boxes, ArrayView<int> candidates, ArrayView<uint> mask, NmsShape s)
    {
        int word = t % s.Words, rest = t / s.Words, i = rest % s.TopK, segment = rest / s.TopK;
        int n = segment / (s.Classes - 1);
        long baseCand = (long)(int)segment * s.TopK;
        uint bits = 0;
        int bi = candidates[baseCand + i];
        if (bi >= 0)
        {
            long a = 4 * ((long)(int)n * s.Priors + bi);
            float ax1 = boxes[a], ay1 = boxes[a + 1], ax2 = boxes[a + 2], ay2 = boxes[a + 3];
            for (int b = 0; b < 32; b++)
            {
                int j = word * 32 + b;
                if (j <= i || j >= s.TopK) continue;
                int bj = candidates[baseCand + j];
                if (bj < 0) break;
                long c = 4 * ((long)(int)n * s.Priors + bj);
                if (Iou(ax1, ay1, ax2, ay2, boxes[c], boxes[c + 1], boxes[c + 2], boxes[c + 3], s.IouMode) > s.IouThreshold)
                    bits |= 1u << b;
            }
        }
        mask[t] = bits;
    }

    /// <summary>
    /// Version 1: one thread per segment walks its candidates best first; a candidate not yet removed is kept and
    /// removes everything its mask row marks. <paramref name="removed"/> is per-segment scratch (Words uints).
    /// </summary>
    [Kernel("nms")]
    public static void GreedyScan1(Index1D segment, ArrayView<int> candidates, ArrayView<uint> mask, ArrayView<uint> removed, ArrayView<int> keep, NmsShape s)
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

    /// <summary>Version 1: one key per (image, class candidate): image, score descending, class-major position; kept ones only score.</summary>
    [Kernel("nms")]
    public static void MergeKeys1(Index1D t, ArrayView<ulong> sortedKeys, ArrayView<int> keep, ArrayView<ulong> keys, NmsShape s)
    {
        int perImage = (s.Classes - 1) * s.TopK;
        int n = t / perImage, item = t % perImage;
        int segment = n * (s.Classes - 1) + item / s.TopK, r = item % s.TopK;
        float score = float.NegativeInfinity;
        if (keep[t] != 0) score = UniqueKey.Score(sortedKeys[(long)(int)segment * s.Priors + r]);
        keys[t] = UniqueKey.Make(n, score, item);
    }

    /// <summary>
    /// Version 1: one thread per image writes its best KeepTopK kept detections (image, class, score, x1, y1, x2, y2)
    /// and their count.
    /// </summary>
    [Kernel("nms")]
    public static void Output1(Index1D n, ArrayView<ulong> mergedKeys, ArrayView<int> keep, ArrayView<int> candidates, ArrayView<float> boxes,
        ArrayView<float> detections, ArrayView<int> counts, NmsShape s)
    {
        int perImage = (s.Classes - 1) * s.TopK;
        int count = 0;
        for (int j = 0; j < perImage && count < s.KeepTopK; j++)
        {
            ulong key = mergedKeys[(long)(int)n * perImage + j];
            int item = UniqueKey.Item(key);
            long flat = (long)(int)n * perImage + item;
            if (keep[flat] == 0) break; // kept entries sort first
            int cls = ClassOf(item / s.TopK, s.Background);
            int box = candidates[flat];
            long d = ((long)(int)n * s.KeepTopK + count) * NmsConfig.DetectionSize, b = 4 * ((long)(int)n * s.Priors + box);
            detections[d] = n;
            detections[d + 1] = cls;
            detections[d + 2] = UniqueKey.Score(key);
            detections[d + 3] = boxes[b];
            detections[d + 4] = boxes[b + 1];
            detections[d + 5] = boxes[b + 2];
            detections[d + 6] = boxes[b + 3];
            count++;
        }
        counts[n] = count;
    }
}
