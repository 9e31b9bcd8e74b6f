using Ssd.Kernels.BoxCoding;
using Ssd.Kernels.Detect;
using Ssd.Weights.Model;

namespace Ssd.Engine.PostProcessing.Reference;

/// <summary>
/// The plain reference that <see cref="PostProcessor"/> with torchvision's rules is checked against, bit for bit.
/// <para/>
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
internal sealed class TorchvisionPostprocessReference : ReferencePostProcessor
{
    private readonly ImageSize resized;
    private readonly (float X, float Y, float W, float H) weights;

    /// <param name="anchors">DefaultBoxGenerator output for the resized image: [P, 4] xyxy in its pixels.</param>
    /// <param name="resized">The network input size the anchors (and the clipping) refer to, e.g. 300x300.</param>
    /// <param name="variances">Centre-size variances; the box coder weights are their inverses (0.1, 0.2 -> 10, 5).</param>
    /// <param name="parameters">Classes, score threshold, NMS IoU, topk_candidates and detections_per_img.</param>
    public TorchvisionPostprocessReference(float[] anchors, ImageSize resized, PostProcessParams parameters, float[]? variances = null)
        : base(anchors, 4, "P x 4", parameters, "torchvision postprocess")
    {
        PostProcessInputs.CheckSize(resized, "torchvision postprocess");
        this.resized = resized;
        if (P.TopK <= 0) throw new ArgumentException($"torchvision postprocess: topk_candidates {P.TopK} must be positive");
        var w = PostProcessRules.BoxCoderWeights(variances);
        weights = (w.X, w.Y, w.W, w.H);
    }

    /// <summary>decode_single, then clip_boxes_to_image to [0, W] x [0, H] of the resized image.</summary>
    protected override void Decode(ReadOnlySpan<float> loc, float[] boxes)
    {
        BoxCodingReference.Torchvision(Priors, loc, boxes, weights.X, weights.Y, weights.W, weights.H);
        float w = resized.Width, h = resized.Height;
        for (int i = 0; i < boxes.Length; i += 4)
        {
            boxes[i] = Math.Clamp(boxes[i], 0f, w);
            boxes[i + 1] = Math.Clamp(boxes[i + 1], 0f, h);
            boxes[i + 2] = Math.Clamp(boxes[i + 2], 0f, w);
            boxes[i + 3] = Math.Clamp(boxes[i + 3], 0f, h);
        }
    }

    protected override PostDetection[] Detect(float[] boxes, float[] scores, ImageSize size)
    {
        // Candidates concatenated class by class, each class best first.
        int c = P.NumClasses;
        var cand = new List<(int Label, int Prior, float Score)>();
        for (int label = 0; label < c; label++)
        {
            if (label == P.BackgroundId) continue;
            foreach (int i in BestFirst(scores, label)) cand.Add((label, i, scores[i * c + label]));
        }

        var keep = cand.Count * 4 > 4000 ? BatchedNmsVanilla(cand, boxes) : BatchedNmsCoordinateTrick(cand, boxes);
        if (P.KeepTopK > 0 && keep.Count > P.KeepTopK) keep.RemoveRange(P.KeepTopK, keep.Count - P.KeepTopK);

        // resize_boxes: ratio = torch.tensor(original, float32) / torch.tensor(resized, float32).
        float rw = (float)size.Width / resized.Width, rh = (float)size.Height / resized.Height;
        return keep.Select(k =>
        {
            var (label, i, score) = cand[k];
            return new PostDetection(label, score, boxes[4 * i] * rw, boxes[4 * i + 1] * rh, boxes[4 * i + 2] * rw, boxes[4 * i + 3] * rh);
        }).ToArray();
    }

    private List<int> BatchedNmsVanilla(List<(int Label, int Prior, float Score)> cand, float[] boxes)
    {
        var kept = new bool[cand.Count];
        foreach (var group in Enumerable.Range(0, cand.Count).GroupBy(k => cand[k].Label).OrderBy(g => g.Key))
        {
            var members = group.ToArray();
            var coords = new float[members.Length * 4];
            for (int m = 0; m < members.Length; m++) Array.Copy(boxes, 4 * cand[members[m]].Prior, coords, 4 * m, 4);
            foreach (int m in Nms(coords, members.Select(k => cand[k].Score).ToArray())) kept[members[m]] = true;
        }
        return Enumerable.Range(0, cand.Count).Where(k => kept[k]).OrderByDescending(k => cand[k].Score).ToList();
    }

    private List<int> BatchedNmsCoordinateTrick(List<(int Label, int Prior, float Score)> cand, float[] boxes)
    {
        if (cand.Count == 0) return [];
        float max = float.NegativeInfinity;
        foreach (var d in cand)
            for (int j = 0; j < 4; j++) max = MathF.Max(max, boxes[4 * d.Prior + j]);
        var coords = new float[cand.Count * 4];
        for (int k = 0; k < cand.Count; k++)
        {
            float offset = cand[k].Label * (max + 1f);
            for (int j = 0; j < 4; j++) coords[4 * k + j] = boxes[4 * cand[k].Prior + j] + offset;
        }
        return Nms(coords, cand.Select(d => d.Score).ToArray());
    }

    /// <summary>torchvision::ops::nms on the CPU: stable descending sort, suppress IoU &gt; threshold.</summary>
    private List<int> Nms(float[] b, float[] scores)
    {
        int count = scores.Length;
        var order = Enumerable.Range(0, count).OrderByDescending(k => scores[k]).ToArray();
        var suppressed = new bool[count];
        var keep = new List<int>();
        for (int oi = 0; oi < count; oi++)
        {
            int i = order[oi];
            if (suppressed[i]) continue;
            keep.Add(i);
            for (int oj = oi + 1; oj < count; oj++)
                if (!suppressed[order[oj]] && Suppresses(ModelFlavor.Torchvision, b, i, order[oj])) suppressed[order[oj]] = true;
        }
        return keep;
    }
}
