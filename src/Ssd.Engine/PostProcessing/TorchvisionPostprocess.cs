using Ssd.Kernels.Cpu;
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
public sealed unsafe class TorchvisionPostprocess : IPostProcessor
{
    private readonly float[] anchors;
    private readonly int numPriors;
    private readonly PostProcessParams p;
    private readonly ImageSize resized;
    private readonly (float X, float Y, float W, float H) weights;
    private readonly DenseWorkspace.Cache cache;

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
        cache = new DenseWorkspace.Cache(numPriors, p.NumClasses, p.TopK);
    }

    public IReadOnlyList<PostDetection>[] Run(ReadOnlySpan<float> loc, ReadOnlySpan<float> conf, IReadOnlyList<ImageSize> originalSizes)
    {
        int c = p.NumClasses, n = PostProcessInputs.Images(loc, conf, numPriors, c, originalSizes.Count, "torchvision postprocess");
        var result = new IReadOnlyList<PostDetection>[n];
        var ws = cache.Rent();
        for (int img = 0; img < n; img++)
        {
            PostProcessInputs.CheckSize(originalSizes[img], "torchvision postprocess");
            var codes = loc.Slice(img * numPriors * 4, numPriors * 4);
            int workers = ws.WorkerCount;
            ClassCandidates.Fill(conf.Slice(img * numPriors * c, numPriors * c), p.ConfIsProbability, numPriors, c, p.BackgroundId, p.ConfidenceThreshold, ws, workers);
            // Each class's candidates best first (equal scores: lower prior first), the first topk_candidates, in its slot.
            WorkerPool.Run(c, ws.ClassWorkers(workers), (Self: this, Ws: ws), static (s, worker, cls) => s.Self.TopOfClass(s.Ws, s.Ws.Workers[worker], cls));
            int count = 0;
            for (int cls = 0; cls < c; cls++) count += ws.Count[cls];

            var size = originalSizes[img];
            // resize_boxes: ratio = torch.tensor(original, float32) / torch.tensor(resized, float32).
            float rw = (float)size.Width / resized.Width, rh = (float)size.Height / resized.Height;
            PostDetection[] detections;
            if (count * 4 > 4000)
            {
                fixed (float* pl = codes)
                    WorkerPool.Run(c, ws.ClassWorkers(workers), (Self: this, Ws: ws, Loc: (IntPtr)pl), static (s, worker, cls) => s.Self.ClassNms(s.Ws, s.Ws.Workers[worker], (float*)s.Loc, cls));
                detections = MergeKept(ws, rw, rh);
            }
            else detections = CoordinateTrick(ws, codes, count, rw, rh);
            result[img] = detections;
        }
        cache.Return(ws);
        return result;
    }

    private void TopOfClass(DenseWorkspace ws, DenseWorkspace.Worker w, int cls)
    {
        ws.Count[cls] = 0;
        if (cls == p.BackgroundId) return;
        int top = ClassTop.Select(ws.Gather(cls, w), p.ConfidenceThreshold, p.TopK, lowerKeyFirst: true, w, w.Ranked);
        if (top == 0) return;
        int slot = cls * ws.PerClass;
        for (int k = 0; k < top; k++) (ws.Score[slot + k], ws.Key[slot + k]) = (w.Ranked[k].Score, w.Ranked[k].Key);
        ws.Count[cls] = top;
    }

    /// <summary>
    /// batched_nms's per-class path for one class (its run is already best first): boxes decoded and clipped, greedy
    /// NMS; the kept stay in the class's slot, in order.
    /// </summary>
    private void ClassNms(DenseWorkspace ws, DenseWorkspace.Worker w, float* loc, int cls)
    {
        int m = ws.Count[cls], slot = cls * ws.PerClass;
        if (m == 0) return;
        var (x1, y1, x2, y2) = w.Nms.Columns(m);
        var codes = new ReadOnlySpan<float>(loc, 4 * numPriors);
        for (int k = 0; k < m; k++)
        {
            Decode(codes, ws.Key[slot + k], w.Box);
            (x1[k], y1[k], x2[k], y2[k]) = (w.Box[0], w.Box[1], w.Box[2], w.Box[3]);
        }
        w.Keep.Clear();
        w.Nms.Run(m, p.NmsThreshold, GreedyIou.Torchvision, w.Keep);
        // Kept positions only grow, so writing kept r over slot r never overwrites one still to be read.
        int r = 0;
        foreach (int k in w.Keep)
        {
            int at = slot + r++;
            (ws.Score[at], ws.Key[at]) = (ws.Score[slot + k], ws.Key[slot + k]);
            (ws.Box[4 * at], ws.Box[4 * at + 1], ws.Box[4 * at + 2], ws.Box[4 * at + 3]) = (x1[k], y1[k], x2[k], y2[k]);
        }
        ws.Count[cls] = w.Keep.Count;
    }

    /// <summary>The kept of every class, best first (torch.sort, here stable in concatenation order); the first detections_per_img.</summary>
    private PostDetection[] MergeKept(DenseWorkspace ws, float rw, float rh)
    {
        int total = 0;
        for (int cls = 0; cls < p.NumClasses; cls++) total += ws.Count[cls];
        var score = new float[total];
        var entry = new int[total];
        var slotOf = new int[total];
        var label = new int[total];
        // Class by class, each in NMS order: the order of the kept boxes' positions in the concatenation, which
        // torch.sort's ties follow here.
        for (int cls = 0, k = 0; cls < p.NumClasses; cls++)
            for (int r = 0; r < ws.Count[cls]; r++, k++)
            {
                int slot = cls * ws.PerClass + r;
                (score[k], entry[k], slotOf[k], label[k]) = (ws.Score[slot], k, slot, cls);
            }
        var best = new Ranked[total];
        int top = TopSelect.Top(score, entry, p.KeepTopK, lowerKeyFirst: true, new ulong[total], new int[total], best);
        var detections = new PostDetection[top];
        for (int r = 0; r < top; r++)
        {
            int e = best[r].Key, slot = slotOf[e];
            detections[r] = new PostDetection(label[e], score[e], ws.Box[4 * slot] * rw, ws.Box[4 * slot + 1] * rh, ws.Box[4 * slot + 2] * rw, ws.Box[4 * slot + 3] * rh);
        }
        return detections;
    }

    /// <summary>Few candidates: torchvision's coordinate-trick path over the concatenation (class order).</summary>
    private PostDetection[] CoordinateTrick(DenseWorkspace ws, ReadOnlySpan<float> codes, int count, float rw, float rh)
    {
        var cand = new Ranked[count];
        var label = new int[count];
        var boxes = new float[numPriors * 4];
        var decoded = new bool[numPriors];
        for (int cls = 0, k = 0; cls < p.NumClasses; cls++)
            for (int r = 0; r < ws.Count[cls]; r++, k++)
            {
                int slot = cls * ws.PerClass + r, i = ws.Key[slot];
                (cand[k], label[k]) = (new Ranked(ws.Score[slot], i), cls);
                if (decoded[i]) continue;
                decoded[i] = true;
                Decode(codes, i, boxes.AsSpan(4 * i, 4));
            }
        var keep = BatchedNmsCoordinateTrick(cand, label, count, boxes);
        var detections = new PostDetection[keep.Length];
        for (int r = 0; r < keep.Length; r++)
        {
            var (score, i) = cand[keep[r]];
            detections[r] = new PostDetection(label[keep[r]], score, boxes[4 * i] * rw, boxes[4 * i + 1] * rh, boxes[4 * i + 2] * rw, boxes[4 * i + 3] * rh);
        }
        return detections;
    }

    /// <summary>BoxCoder.decode_single for one anchor, then the clip to the resized image.</summary>
    private void Decode(ReadOnlySpan<float> codes, int i, Span<float> box)
    {
        BoxCodingReference.TorchvisionBox(anchors, i, codes.Slice(4 * i, 4), box, weights.X, weights.Y, weights.W, weights.H);
        float iw = resized.Width, ih = resized.Height;
        box[0] = Math.Clamp(box[0], 0f, iw);
        box[1] = Math.Clamp(box[1], 0f, ih);
        box[2] = Math.Clamp(box[2], 0f, iw);
        box[3] = Math.Clamp(box[3], 0f, ih);
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
