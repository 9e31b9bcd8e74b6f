using Ssd.Kernels.BoxCoding;
using Ssd.Kernels.Cpu;

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
public sealed unsafe class CaffeDetectionOutput : IPostProcessor
{
    private readonly float[] priors;
    private readonly int numPriors;
    private readonly PostProcessParams p;
    private readonly DenseWorkspace.Cache cache;

    /// <param name="priors">Caffe's PriorBox blob [2, P*4]: normalised xyxy of every prior, then its variances.</param>
    public CaffeDetectionOutput(float[] priors, PostProcessParams parameters)
    {
        numPriors = PostProcessInputs.PriorCount(priors, 8, "2 x P x 4", "caffe detection output");
        this.priors = priors;
        p = parameters;
        p.Validate(numPriors, "caffe detection output");
        cache = new DenseWorkspace.Cache(numPriors, p.NumClasses, p.TopK);
    }

    public IReadOnlyList<PostDetection>[] Run(ReadOnlySpan<float> loc, ReadOnlySpan<float> conf, IReadOnlyList<ImageSize> originalSizes)
    {
        int c = p.NumClasses, n = PostProcessInputs.Images(loc, conf, numPriors, c, originalSizes.Count, "caffe detection output");
        var result = new IReadOnlyList<PostDetection>[n];
        var ws = cache.Rent();
        for (int img = 0; img < n; img++)
        {
            PostProcessInputs.CheckSize(originalSizes[img], "caffe detection output");
            var codes = loc.Slice(img * numPriors * 4, numPriors * 4);
            int workers = ws.WorkerCount;
            ClassCandidates.Fill(conf.Slice(img * numPriors * c, numPriors * c), p.ConfIsProbability, numPriors, c, p.BackgroundId, p.ConfidenceThreshold, ws, workers);
            // Every class on its own (candidates, top_k, decode, NMS) into its own slot; classes in parallel.
            fixed (float* pl = codes)
                WorkerPool.Run(c, ws.ClassWorkers(workers), (Self: this, Ws: ws, Loc: (IntPtr)pl), static (s, worker, cls) => s.Self.Class(s.Ws, s.Ws.Workers[worker], (float*)s.Loc, cls));

            result[img] = ws.RankedDetections(p.KeepTopK, originalSizes[img]);
        }
        cache.Return(ws);
        return result;
    }

    /// <summary>
    /// One class: candidates above the threshold, ordered by score with std::stable_sort (equal scores keep the
    /// lower prior first), the first top_k, their boxes decoded (DecodeBBox), ApplyNMSFast; the kept go to the class's slot.
    /// </summary>
    private void Class(DenseWorkspace ws, DenseWorkspace.Worker w, float* loc, int cls)
    {
        ws.Count[cls] = 0;
        if (cls == p.BackgroundId) return;
        int top = ClassTop.Select(ws.Gather(cls, w), p.ConfidenceThreshold, p.TopK, lowerKeyFirst: true, w, w.Ranked);
        if (top == 0) return;
        var (x1, y1, x2, y2) = w.Nms.Columns(top);
        var codes = new ReadOnlySpan<float>(loc, 4 * numPriors);
        for (int k = 0; k < top; k++)
        {
            int i = w.Ranked[k].Key;
            BoxCodingReference.CaffeBox(priors, numPriors, i, codes.Slice(4 * i, 4), w.Box);
            (x1[k], y1[k], x2[k], y2[k]) = (w.Box[0], w.Box[1], w.Box[2], w.Box[3]);
        }
        w.Keep.Clear();
        w.Nms.Run(top, p.NmsThreshold, GreedyIou.Caffe, w.Keep);
        int slot = cls * ws.PerClass;
        foreach (int k in w.Keep)
        {
            ws.Score[slot] = w.Ranked[k].Score;
            ws.Key[slot] = w.Ranked[k].Key;
            (ws.Box[4 * slot], ws.Box[4 * slot + 1], ws.Box[4 * slot + 2], ws.Box[4 * slot + 3]) = (x1[k], y1[k], x2[k], y2[k]);
            slot++;
        }
        ws.Count[cls] = w.Keep.Count;
    }
}
