using Ssd.Kernels.BoxCoding;

namespace Ssd.Engine.PostProcessing;

/// <summary>
/// torchvision 0.14 SSD.postprocess_detections followed by GeneralizedRCNNTransform.postprocess, per image:
/// 1. softmax over classes; boxes from BoxCoder.decode_single (weights 10, 10, 5, 5 = 1 / variances), clipped to
///    the resized image [0, W] x [0, H] BEFORE NMS;
/// 2. per label 1..C-1: score &gt; score_thresh, then score.topk(min(topk_candidates, n)) (torch's CPU topk is not
///    stable; here equal scores keep the lower prior first);
/// 3. batched_nms over the concatenation (class order) at nms_thresh, exactly as torchvision picks its path on the
///    CPU: more than 1000 boxes: NMS per class, then the kept boxes sorted by score (torch.sort, unstable; here
///    stable in concatenation order); otherwise the "coordinate trick": every box shifted by
///    label * (max coordinate + 1) in float32 and one NMS over all (that shift rounds the coordinates, which can
///    change an IoU in its last bits, so it is reproduced). torchvision's nms sorts stably, suppresses IoU &gt; thr;
/// 4. the first detections_per_img; boxes scaled by (original / resized) per axis, ratios in float32.
/// </summary>
public sealed class TorchvisionPostprocess : IPostProcessor
{
    private readonly float[] anchors;
    private readonly int numPriors;
    private readonly PostProcessParams p;
    private readonly ImageSize resized;
    private readonly (float X, float Y, float W, float H) weights;

    /// <param name="anchors">DefaultBoxGenerator output for the resized image: [P, 4] xyxy in its pixels.</param>
    /// <param name="resized">The network input size the anchors (and the clipping) refer to, e.g. 300x300.</param>
    /// <param name="variances">Centre-size variances; the box coder weights are their inverses (0.1, 0.2 -> 10, 5).</param>
    public TorchvisionPostprocess(float[] anchors, ImageSize resized, PostProcessParams parameters, float[]? variances = null)
    {
        numPriors = PostProcessInputs.PriorCount(anchors, 4, "P x 4", "torchvision postprocess");
        PostProcessInputs.CheckSize(resized, "torchvision postprocess");
        this.anchors = anchors;
        this.resized = resized;
        p = parameters;
        p.Validate(numPriors, "torchvision postprocess");
        if (p.TopK <= 0) throw new ArgumentException($"torchvision postprocess: topk_candidates {p.TopK} must be positive");
        weights = PostProcessInputs.BoxCoderWeights(variances, "torchvision postprocess");
    }

    public IReadOnlyList<PostDetection>[] Run(ReadOnlySpan<float> loc, ReadOnlySpan<float> conf, IReadOnlyList<ImageSize> originalSizes)
    {
        int c = p.NumClasses, n = PostProcessInputs.Images(loc, conf, numPriors, c, originalSizes.Count, "torchvision postprocess");
        var result = new IReadOnlyList<PostDetection>[n];
        var boxes = new float[numPriors * 4];
        var decoded = new bool[numPriors];
        for (int img = 0; img < n; img++)
        {
            PostProcessInputs.CheckSize(originalSizes[img], "torchvision postprocess");
            var codes = loc.Slice(img * numPriors * 4, numPriors * 4);
            var found = ClassCandidates.Find(conf.Slice(img * numPriors * c, numPriors * c), p.ConfIsProbability, numPriors, c, p.BackgroundId, p.ConfidenceThreshold);

            // Candidates concatenated class by class, each class best first (equal scores: lower prior first).
            var cand = new Ranked[found.Prior.Length];
            var label = new int[cand.Length];
            int count = 0;
            var order = new RankOrder(lowerKeyFirst: true);
            for (int cls = 0; cls < c; cls++)
            {
                int from = found.Start(cls), m = found.End(cls) - from;
                if (m == 0) continue;
                var ofClass = cand.AsSpan(count, m);
                for (int k = 0; k < m; k++) ofClass[k] = new Ranked(found.Score[from + k], found.Prior[from + k]);
                int top = order.Top(ofClass, p.TopK);
                label.AsSpan(count, top).Fill(cls);
                count += top;
            }
            // Only the candidates' boxes are decoded (and clipped).
            for (int k = 0; k < count; k++)
            {
                int i = cand[k].Key;
                if (decoded[i]) continue;
                decoded[i] = true;
                Decode(codes, i, boxes);
            }

            var keep = count * 4 > 4000 ? BatchedNmsVanilla(cand, label, count, boxes) : BatchedNmsCoordinateTrick(cand, label, count, boxes);

            // resize_boxes: ratio = torch.tensor(original, float32) / torch.tensor(resized, float32).
            var size = originalSizes[img];
            float rw = (float)size.Width / resized.Width, rh = (float)size.Height / resized.Height;
            var detections = new PostDetection[keep.Length];
            for (int r = 0; r < keep.Length; r++)
            {
                var (score, i) = cand[keep[r]];
                detections[r] = new PostDetection(label[keep[r]], score, boxes[4 * i] * rw, boxes[4 * i + 1] * rh, boxes[4 * i + 2] * rw, boxes[4 * i + 3] * rh);
            }
            result[img] = detections;
            Array.Clear(decoded);
        }
        return result;
    }

    /// <summary>BoxCoder.decode_single for one anchor, then the clip to the resized image.</summary>
    private void Decode(ReadOnlySpan<float> codes, int i, float[] output)
    {
        var box = output.AsSpan(4 * i, 4);
        BoxCodingReference.TorchvisionBox(anchors, i, codes.Slice(4 * i, 4), box, weights.X, weights.Y, weights.W, weights.H);
        float iw = resized.Width, ih = resized.Height;
        box[0] = Math.Clamp(box[0], 0f, iw);
        box[1] = Math.Clamp(box[1], 0f, ih);
        box[2] = Math.Clamp(box[2], 0f, iw);
        box[3] = Math.Clamp(box[3], 0f, ih);
    }

    /// <summary>NMS per class (each class's run is already best first), then the kept ones best first, stable.</summary>
    private int[] BatchedNmsVanilla(Ranked[] cand, int[] label, int count, float[] boxes)
    {
        var kept = new Ranked[count];
        int keptCount = 0;
        var nms = new GreedyNms();
        var keepInClass = new List<int>();
        for (int from = 0; from < count;)
        {
            int to = from;
            while (to < count && label[to] == label[from]) to++;
            int m = to - from;
            var (x1, y1, x2, y2) = nms.Columns(m);
            for (int k = 0; k < m; k++)
            {
                int i = cand[from + k].Key;
                (x1[k], y1[k], x2[k], y2[k]) = (boxes[4 * i], boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3]);
            }
            keepInClass.Clear();
            nms.Run(m, p.NmsThreshold, GreedyIou.Torchvision, keepInClass);
            foreach (int k in keepInClass)
                kept[keptCount++] = new Ranked(cand[from + k].Score, from + k);
            from = to;
        }
        // torch.sort of the kept scores, here stable in concatenation order; then the first detections_per_img.
        int top = new RankOrder(lowerKeyFirst: true).Top(kept.AsSpan(0, keptCount), p.KeepTopK);
        var keep = new int[top];
        for (int r = 0; r < top; r++) keep[r] = kept[r].Key;
        return keep;
    }

    private int[] BatchedNmsCoordinateTrick(Ranked[] cand, int[] label, int count, float[] boxes)
    {
        if (count == 0) return [];
        float max = float.NegativeInfinity;
        for (int k = 0; k < count; k++)
            for (int j = 0; j < 4; j++) max = MathF.Max(max, boxes[4 * cand[k].Key + j]);
        // nms sorts all scores stably: best first, equal scores in concatenation order.
        var order = new Ranked[count];
        for (int k = 0; k < count; k++) order[k] = new Ranked(cand[k].Score, k);
        order.AsSpan().Sort(new RankOrder(lowerKeyFirst: true));
        var nms = new GreedyNms();
        var (x1, y1, x2, y2) = nms.Columns(count);
        for (int o = 0; o < count; o++)
        {
            int k = order[o].Key, b = 4 * cand[k].Key;
            float offset = label[k] * (max + 1f);
            (x1[o], y1[o], x2[o], y2[o]) = (boxes[b] + offset, boxes[b + 1] + offset, boxes[b + 2] + offset, boxes[b + 3] + offset);
        }
        var kept = new List<int>();
        nms.Run(count, p.NmsThreshold, GreedyIou.Torchvision, kept);
        var keep = new List<int>(kept.Count);
        foreach (int o in kept) keep.Add(order[o].Key);
        if (p.KeepTopK > 0 && keep.Count > p.KeepTopK) keep.RemoveRange(p.KeepTopK, keep.Count - p.KeepTopK);
        return keep.ToArray();
    }
}
