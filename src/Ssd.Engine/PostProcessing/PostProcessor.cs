using Ssd.Kernels.Cpu;
using Ssd.Kernels.BoxCoding;
using Ssd.Kernels.Detect;
using Ssd.Weights.Model;

namespace Ssd.Engine.PostProcessing;

/// <summary>
/// The one post-processing algorithm on the host: <see cref="PostProcessRules"/> lists its steps (the device runs the
/// same in <see cref="DetectOp"/>), and with each flavour's rules it gives that flavour's reference
/// (PostProcessing/Reference) bit for bit. Built for SSD's dense heads (thousands of candidates, or nearly every
/// score when a head is untrained): each class's candidates are gathered during the softmax pass
/// (<see cref="DenseWorkspace.FindCandidates"/>); then the classes are ranked (<see cref="TopK"/>), decoded and suppressed
/// (<see cref="GreedyNms"/>) in parallel, each into its own slot, and merged in class order, so the result does not
/// depend on the scheduling.
/// </summary>
public sealed unsafe class PostProcessor : IPostProcessor
{
    private readonly float[] priors;
    private readonly int numPriors;
    private readonly WorkspaceSlot slot; // shared by the post-processors made With other rules
    private readonly int maxWorkers;

    /// <summary>The rules this post-processor follows.</summary>
    public PostProcessRules Rules { get; }

    /// <param name="rules">The flavour's rules (<see cref="PostProcessorFactory.Rules"/>).</param>
    /// <param name="priors">The priors in the decoder's layout (<see cref="PostProcessRules.PriorFloats"/> per prior).</param>
    public PostProcessor(PostProcessRules rules, float[] priors) : this(rules, priors, new WorkspaceSlot(), DenseWorkspace.MaxWorkers)
    {
    }

    private PostProcessor(PostProcessRules rules, float[] priors, WorkspaceSlot slot, int maxWorkers)
    {
        numPriors = rules.PriorCount(priors.Length, "post-processing");
        (Rules, this.priors, this.slot, this.maxWorkers) = (rules, priors, slot, maxWorkers);
    }

    /// <summary>The same priors and reused buffers under other rules of the same classes and per-class cap (a call's
    /// thresholds), on at most <paramref name="threads"/> threads (null: as this one).</summary>
    internal PostProcessor With(PostProcessRules rules, int? threads = null)
    {
        if (rules.Params.NumClasses != Rules.Params.NumClasses || rules.Params.TopK != Rules.Params.TopK)
            throw new ArgumentException("post-processing: other rules must keep the classes and the per-class cap");
        int workers = threads is { } t ? Math.Clamp(t, 1, DenseWorkspace.MaxWorkers) : maxWorkers;
        return rules == Rules && workers == maxWorkers ? this : new PostProcessor(rules, priors, slot, workers);
    }

    /// <summary>The workspace one caller at a time reuses; a concurrent caller makes its own.</summary>
    private sealed class WorkspaceSlot
    {
        public DenseWorkspace? Cached;
    }

    /// <inheritdoc/>
    public IReadOnlyList<PostDetection>[] Run(ReadOnlySpan<float> loc, ReadOnlySpan<float> conf, IReadOnlyList<ImageSize> originalSizes)
    {
        var p = Rules.Params;
        int c = p.NumClasses, n = PostProcessInputs.Images(loc, conf, numPriors, c, originalSizes.Count, "post-processing");
        var result = new IReadOnlyList<PostDetection>[n];
        var ws = Interlocked.Exchange(ref slot.Cached, null) ?? new DenseWorkspace(numPriors, c, p.TopK);
        for (int img = 0; img < n; img++)
        {
            var size = originalSizes[img];
            PostProcessInputs.CheckSize(size, "post-processing");
            ws.FindCandidates(conf.Slice(img * numPriors * c, numPriors * c), p);
            int workers = ws.ClassWorkers(maxWorkers);
            fixed (float* pl = loc.Slice(img * numPriors * 4, numPriors * 4))
            {
                // The coordinate trick's shift depends on every class's boxes: then NMS waits for all of them.
                var job = (Self: this, Ws: ws, Loc: (IntPtr)pl, Nms: !Rules.CoordinateTrick);
                WorkerPool.Run(c, workers, job, static (j, worker, cls) => j.Self.Top(j.Ws, j.Ws.Workers[worker], (float*)j.Loc, cls, j.Nms));
            }
            if (Rules.CoordinateTrick)
                WorkerPool.Run(c, workers, (Self: this, Ws: ws, Step: ws.CoordinateTrickStep()), static (j, worker, cls) => j.Self.Nms(j.Ws, j.Ws.Workers[worker], cls, j.Step));
            var (sx, sy) = Rules.Scale(size.Width, size.Height);
            result[img] = ws.RankedDetections(p.KeepTopK, p.ConfidenceThreshold, sx, sy);
        }
        slot.Cached = ws;
        return result;
    }

    /// <summary>Class cls: its top_k candidates, best first, with their boxes into its slot; then its NMS when <paramref name="nms"/>.</summary>
    private void Top(DenseWorkspace ws, DenseWorkspace.Worker w, float* loc, int cls, bool nms)
    {
        var p = Rules.Params;
        ws.Count[cls] = 0;
        if (cls == p.BackgroundId) return;
        int hits = cls * numPriors, slot = cls * ws.PerClass;
        int top = TopK.Select(ws.HitScore.AsSpan(hits, ws.HitCount[cls]), ws.HitPrior.AsSpan(hits, ws.HitCount[cls]), p.ConfidenceThreshold,
            p.TopK, Rules.HigherPriorFirst, w.SortKeys, w.Ranked);
        for (int r = 0; r < top; r++)
        {
            var (score, prior) = w.Ranked[r];
            ws.Score[slot + r] = score;
            Decode(new ReadOnlySpan<float>(loc + 4 * prior, 4), prior, ws.Box.AsSpan(4 * (slot + r), 4));
        }
        ws.Count[cls] = top;
        if (nms) Nms(ws, w, cls, 0f);
    }

    private void Decode(ReadOnlySpan<float> code, int prior, Span<float> box)
    {
        var r = Rules;
        switch (r.Decoder)
        {
            case ModelFlavor.Caffe: BoxCodingReference.CaffeBox(priors, numPriors, prior, code, box); break;
            case ModelFlavor.SsdPytorch: BoxCodingReference.SsdPytorchBox(priors, prior, code, box, r.Variance0, r.Variance1); break;
            default: BoxCodingReference.TorchvisionBox(priors, prior, code, box, r.Weights.X, r.Weights.Y, r.Weights.W, r.Weights.H); break;
        }
        if (!r.Clip) return;
        for (int k = 0; k < 4; k++) box[k] = Math.Clamp(box[k], 0f, k % 2 == 0 ? r.FrameWidth : r.FrameHeight);
    }

    /// <summary>Greedy NMS over class cls's slot (best first), its boxes shifted by cls x step; the kept stay in the slot, in order.</summary>
    private void Nms(DenseWorkspace ws, DenseWorkspace.Worker w, int cls, float step)
    {
        int m = ws.Count[cls], slot = cls * ws.PerClass;
        if (m == 0) return;
        float shift = cls * step;
        var (x1, y1, x2, y2) = w.Nms.Columns(m);
        for (int k = 0; k < m; k++)
        {
            var b = ws.Box.AsSpan(4 * (slot + k), 4);
            (x1[k], y1[k], x2[k], y2[k]) = shift != 0f ? (b[0] + shift, b[1] + shift, b[2] + shift, b[3] + shift) : (b[0], b[1], b[2], b[3]);
        }
        w.Keep.Clear();
        w.Nms.Run(m, Rules.Params.NmsThreshold, Rules.Iou, w.Keep);
        // Kept positions only grow, so writing kept r over slot r never overwrites one still to be read.
        int kept = 0;
        foreach (int k in w.Keep)
        {
            int from = slot + k, to = slot + kept++;
            ws.Score[to] = ws.Score[from];
            Array.Copy(ws.Box, 4 * from, ws.Box, 4 * to, 4);
        }
        ws.Count[cls] = kept;
    }
}
