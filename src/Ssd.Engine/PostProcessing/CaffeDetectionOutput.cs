using Ssd.Kernels.BoxCoding;
using Ssd.Kernels.Nms;

namespace Ssd.Engine.PostProcessing;

/// <summary>
/// Caffe SSD's DetectionOutput layer (share_location, CENTER_SIZE, variance_encoded_in_target false, eta 1,
/// clip false), per image:
/// 1. decode every prior's offsets with the prior's variances (<see cref="BoxCodingReference.Caffe"/>);
/// 2. per class c != background: priors with score &gt; confidence_threshold, ordered by score with
///    std::stable_sort (equal scores keep the lower prior first), the first top_k;
///    ApplyNMSFast: walk them in that order, keep a box unless JaccardOverlap (normalised, no +1) with an already
///    kept box is not &lt;= nms_threshold (so a NaN overlap suppresses, as in Caffe);
/// 3. if keep_top_k &gt; -1 and more survive, the keep_top_k best over all classes. Caffe uses std::sort there
///    (tie order unspecified); here ties keep the lower class, then the class's own NMS order;
/// 4. boxes are not clipped; multiplied by the image width / height (normalised when the size is 1x1).
/// Output is best score first (Caffe's blob lists class by class; its rows are the same set).
/// </summary>
public sealed class CaffeDetectionOutput : IPostProcessor
{
    private readonly float[] priors;
    private readonly int numPriors;
    private readonly PostProcessParams p;

    /// <param name="priors">Caffe's PriorBox blob [2, P*4]: normalised xyxy of every prior, then its variances.</param>
    public CaffeDetectionOutput(float[] priors, PostProcessParams parameters)
    {
        numPriors = PostProcessInputs.PriorCount(priors, 8, "2 x P x 4", "caffe detection output");
        this.priors = priors;
        p = parameters;
        p.Validate(numPriors, "caffe detection output");
    }

    public IReadOnlyList<PostDetection>[] Run(ReadOnlySpan<float> loc, ReadOnlySpan<float> conf, IReadOnlyList<ImageSize> originalSizes)
    {
        int c = p.NumClasses, n = PostProcessInputs.Images(loc, conf, numPriors, c, originalSizes.Count, "caffe detection output");
        var result = new IReadOnlyList<PostDetection>[n];
        var boxes = new float[numPriors * 4];
        var decoded = new bool[numPriors];
        var order = new RankOrder(lowerKeyFirst: true);
        for (int img = 0; img < n; img++)
        {
            PostProcessInputs.CheckSize(originalSizes[img], "caffe detection output");
            var codes = loc.Slice(img * numPriors * 4, numPriors * 4);
            var found = ClassCandidates.Find(conf.Slice(img * numPriors * c, numPriors * c), p.ConfIsProbability, numPriors, c, p.BackgroundId, p.ConfidenceThreshold);
            var all = new List<(int Class, Ranked Kept)>();
            var ofClass = new Ranked[found.Prior.Length];
            for (int cls = 0; cls < c; cls++)
            {
                int from = found.Start(cls), m = found.End(cls) - from;
                if (m == 0) continue;
                var ranked = ofClass.AsSpan(0, m);
                for (int k = 0; k < m; k++) ranked[k] = new Ranked(found.Score[from + k], found.Prior[from + k]);
                // std::stable_sort by score: equal scores keep the lower prior first; then the first top_k.
                ranked = ranked[..order.Top(ranked, p.TopK)];
                foreach (var r in ranked)
                    if (!decoded[r.Key]) { decoded[r.Key] = true; Decode(codes, r.Key, boxes); }
                foreach (var r in ApplyNmsFast(boxes, ranked)) all.Add((cls, r));
            }
            // Over all classes best first; ties keep the lower class, then NMS order (positions in `all`).
            var best = new Ranked[all.Count];
            for (int k = 0; k < best.Length; k++) best[k] = new Ranked(all[k].Kept.Score, k);
            int top = order.Top(best, p.KeepTopK);
            var size = originalSizes[img];
            var detections = new PostDetection[top];
            for (int r = 0; r < top; r++)
            {
                var (cls, kept) = all[best[r].Key];
                int i = kept.Key;
                detections[r] = new PostDetection(cls, kept.Score, boxes[4 * i] * size.Width, boxes[4 * i + 1] * size.Height,
                    boxes[4 * i + 2] * size.Width, boxes[4 * i + 3] * size.Height);
            }
            result[img] = detections;
            Array.Clear(decoded);
        }
        return result;
    }

    /// <summary>DecodeBBox for one prior.</summary>
    private void Decode(ReadOnlySpan<float> loc, int i, float[] output) =>
        BoxCodingReference.CaffeBox(priors, numPriors, i, loc.Slice(4 * i, 4), output.AsSpan(4 * i, 4));

    /// <summary>ApplyNMSFast over the class's candidates, best first.</summary>
    private List<Ranked> ApplyNmsFast(float[] boxes, ReadOnlySpan<Ranked> ordered)
    {
        var kept = new List<Ranked>();
        foreach (var cand in ordered)
        {
            var box = boxes.AsSpan(4 * cand.Key, 4);
            bool keep = true;
            foreach (var k in kept)
            {
                float overlap = NmsReference.Iou(box, boxes.AsSpan(4 * k.Key, 4), IouMode.Caffe);
                if (!(overlap <= p.NmsThreshold)) { keep = false; break; }
            }
            if (keep) kept.Add(cand);
        }
        return kept;
    }
}
