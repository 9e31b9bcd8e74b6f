using Ssd.Kernels.Cpu;
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
public sealed unsafe class SsdPytorchDetect : IPostProcessor
{
    private readonly float[] priors;
    private readonly int numPriors;
    private readonly PostProcessParams p;
    private readonly float variance0, variance1;
    private readonly DenseWorkspace.Cache cache;

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
        cache = new DenseWorkspace.Cache(numPriors, p.NumClasses, p.TopK);
    }

    public IReadOnlyList<PostDetection>[] Run(ReadOnlySpan<float> loc, ReadOnlySpan<float> conf, IReadOnlyList<ImageSize> originalSizes)
    {
        int c = p.NumClasses, n = PostProcessInputs.Images(loc, conf, numPriors, c, originalSizes.Count, "ssd.pytorch detect");
        var result = new IReadOnlyList<PostDetection>[n];
        var ws = cache.Rent();
        for (int img = 0; img < n; img++)
        {
            PostProcessInputs.CheckSize(originalSizes[img], "ssd.pytorch detect");
            var codes = loc.Slice(img * numPriors * 4, numPriors * 4);
            int workers = ws.WorkerCount;
            ClassCandidates.Fill(conf.Slice(img * numPriors * c, numPriors * c), p.ConfIsProbability, numPriors, c, p.BackgroundId, p.ConfidenceThreshold, ws, workers);
            fixed (float* pl = codes)
                WorkerPool.Run(c, ws.ClassWorkers(workers), (Self: this, Ws: ws, Loc: (IntPtr)pl), static (s, worker, cls) => s.Self.Class(s.Ws, s.Ws.Workers[worker], (float*)s.Loc, cls));

            // No cap over classes (keep_top_k 0).
            result[img] = ws.RankedDetections(0, originalSizes[img]);
        }
        cache.Return(ws);
        return result;
    }

    /// <summary>
    /// One class: candidates above conf_thresh, the top_k best (equal scores: higher prior first, the end of an
    /// ascending stable sort), their boxes decoded (box_utils.decode), box_utils.nms; the kept go to the class's slot.
    /// </summary>
    private void Class(DenseWorkspace ws, DenseWorkspace.Worker wk, float* loc, int cls)
    {
        ws.Count[cls] = 0;
        if (cls == p.BackgroundId) return;
        int top = ClassTop.Select(ws.Gather(cls, wk), p.ConfidenceThreshold, p.TopK, lowerKeyFirst: false, wk, wk.Ranked);
        if (top == 0) return;
        var (x1, y1, x2, y2) = wk.Nms.Columns(top);
        var codes = new ReadOnlySpan<float>(loc, 4 * numPriors);
        for (int k = 0; k < top; k++)
        {
            int i = wk.Ranked[k].Key;
            BoxCodingReference.SsdPytorch(priors.AsSpan(4 * i, 4), codes.Slice(4 * i, 4), wk.Box, variance0, variance1);
            (x1[k], y1[k], x2[k], y2[k]) = (wk.Box[0], wk.Box[1], wk.Box[2], wk.Box[3]);
        }
        wk.Keep.Clear();
        wk.Nms.Run(top, p.NmsThreshold, GreedyIou.SsdPytorch, wk.Keep);
        int slot = cls * ws.PerClass;
        foreach (int k in wk.Keep)
        {
            ws.Score[slot] = wk.Ranked[k].Score;
            ws.Key[slot] = wk.Ranked[k].Key;
            (ws.Box[4 * slot], ws.Box[4 * slot + 1], ws.Box[4 * slot + 2], ws.Box[4 * slot + 3]) = (x1[k], y1[k], x2[k], y2[k]);
            slot++;
        }
        ws.Count[cls] = wk.Keep.Count;
    }
}
