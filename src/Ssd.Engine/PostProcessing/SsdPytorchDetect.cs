using Ssd.Kernels.BoxCoding;

namespace Ssd.Engine.PostProcessing;

/// <summary>
/// ssd.pytorch's test path: softmax over classes (ssd.py), Detect.forward (layers/functions/detection.py) and
/// box_utils.nms, then the eval/demo scaling by the ORIGINAL image width and height. Per image and class c >= 1:
/// 1. boxes from box_utils.decode (<see cref="BoxCodingReference.SsdPytorch"/>: x2 = x1 + w);
/// 2. candidates: conf &gt; conf_thresh, in prior order; a class without candidates is skipped;
/// 3. nms: scores.sort() ascending, the last top_k, repeatedly take the last (the best) and drop the rest whose
///    IoU = inter / ((area_j - inter) + area_i) is not &lt;= overlap (areas (x2-x1)(y2-y1), inter clamped at 0);
///    torch's CPU sort is not stable, so its tie order is implementation-defined; here equal scores take the
///    HIGHER prior index first (what a stable ascending sort taken from the end does);
/// 4. at most top_k per class (nms only looks at top_k), no cap over classes: upstream's final
///    "flt[(rank &lt; top_k)...].fill_(0)" writes into an advanced-indexing copy and changes nothing.
/// Output: best score first; ties keep the lower class, then nms order. Boxes are not clipped.
/// </summary>
public sealed class SsdPytorchDetect : IPostProcessor
{
    private readonly float[] priors;
    private readonly int numPriors;
    private readonly PostProcessParams p;
    private readonly float variance0, variance1;

    /// <param name="priors">ssd.pytorch PriorBox output [P, 4]: (cx, cy, w, h) normalised.</param>
    /// <param name="variances">cfg['variance']: [0.1, 0.2] (or Caffe-style 4 values, whose first and third are used).</param>
    public SsdPytorchDetect(float[] priors, PostProcessParams parameters, float[]? variances = null)
    {
        numPriors = PostProcessInputs.PriorCount(priors, 4, "P x 4", "ssd.pytorch detect");
        this.priors = priors;
        p = parameters;
        p.Validate(numPriors, "ssd.pytorch detect");
        if (p.TopK <= 0) throw new ArgumentException($"ssd.pytorch detect: top_k {p.TopK} must be positive");
        (variance0, variance1) = PostProcessInputs.SsdPytorchVariances(variances, "ssd.pytorch detect");
    }

    public IReadOnlyList<PostDetection>[] Run(ReadOnlySpan<float> loc, ReadOnlySpan<float> conf, IReadOnlyList<ImageSize> originalSizes)
    {
        int c = p.NumClasses, n = PostProcessInputs.Images(loc, conf, numPriors, c, originalSizes.Count, "ssd.pytorch detect");
        var result = new IReadOnlyList<PostDetection>[n];
        var boxes = new float[numPriors * 4];
        var decoded = new bool[numPriors];
        for (int img = 0; img < n; img++)
        {
            PostProcessInputs.CheckSize(originalSizes[img], "ssd.pytorch detect");
            var codes = loc.Slice(img * numPriors * 4, numPriors * 4);
            var found = ClassCandidates.Find(conf.Slice(img * numPriors * c, numPriors * c), p.ConfIsProbability, numPriors, c, p.BackgroundId, p.ConfidenceThreshold);
            var all = new List<PostDetection>();
            var size = originalSizes[img];
            float w = size.Width, h = size.Height;
            var ofClass = new Ranked[found.Prior.Length];
            // Best first; equal scores: higher prior first (the end of an ascending stable sort).
            var order = new RankOrder(lowerKeyFirst: false);
            for (int cls = 0; cls < c; cls++)
            {
                int from = found.Start(cls), m = found.End(cls) - from;
                if (m == 0) continue;
                var ranked = ofClass.AsSpan(0, m);
                for (int k = 0; k < m; k++) ranked[k] = new Ranked(found.Score[from + k], found.Prior[from + k]);
                ranked = ranked[..order.Top(ranked, p.TopK)];
                foreach (var r in ranked)
                    if (!decoded[r.Key]) { decoded[r.Key] = true; Decode(codes, r.Key, boxes); }
                foreach (var r in Nms(boxes, ranked))
                {
                    int i = r.Key;
                    all.Add(new PostDetection(cls, r.Score, boxes[4 * i] * w, boxes[4 * i + 1] * h, boxes[4 * i + 2] * w, boxes[4 * i + 3] * h));
                }
            }
            // Best first, stable: ties keep the lower class, then nms order.
            var best = new Ranked[all.Count];
            for (int k = 0; k < best.Length; k++) best[k] = new Ranked(all[k].Score, k);
            new RankOrder(lowerKeyFirst: true).Top(best, 0);
            var detections = new PostDetection[best.Length];
            for (int r = 0; r < best.Length; r++) detections[r] = all[best[r].Key];
            result[img] = detections;
            Array.Clear(decoded);
        }
        return result;
    }

    /// <summary>box_utils.decode for one prior (<see cref="BoxCodingReference.SsdPytorch"/>'s arithmetic).</summary>
    private void Decode(ReadOnlySpan<float> loc, int i, float[] output)
    {
        Span<float> box = stackalloc float[4];
        BoxCodingReference.SsdPytorch(priors.AsSpan(4 * i, 4), loc.Slice(4 * i, 4), box, variance0, variance1);
        box.CopyTo(output.AsSpan(4 * i, 4));
    }

    /// <summary>box_utils.nms over the class's top_k, best first: greedy, dropping IoU not &lt;= overlap.</summary>
    private List<Ranked> Nms(float[] boxes, ReadOnlySpan<Ranked> idx)
    {
        var nms = new GreedyNms();
        var (x1, y1, x2, y2) = nms.Columns(idx.Length);
        for (int k = 0; k < idx.Length; k++)
        {
            int b = 4 * idx[k].Key;
            (x1[k], y1[k], x2[k], y2[k]) = (boxes[b], boxes[b + 1], boxes[b + 2], boxes[b + 3]);
        }
        var kept = new List<int>();
        nms.Run(idx.Length, p.NmsThreshold, GreedyIou.SsdPytorch, kept);
        var keep = new List<Ranked>(kept.Count);
        foreach (int k in kept) keep.Add(idx[k]);
        return keep;
    }
}
