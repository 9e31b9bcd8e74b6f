using System.Numerics;
using Ssd.Kernels.Cpu;
using Ssd.Kernels.Softmax;

namespace Ssd.Engine.PostProcessing;

/// <summary>
/// One image's candidates, by class: every (prior, class != background) whose probability is above the confidence
/// threshold, appended to its class's list in prior order, so each class's candidates are ready without a scan of
/// all priors and the classes can be worked on in parallel. The two halves of the priors are done on two workers,
/// each into its own lists (half 0's then half 1's is prior order). The softmax of a logit row is fused into the pass
/// (<see cref="SoftmaxReference.Row"/>, so the probabilities are bit for bit the references'); rows a quick screen
/// proves to have no candidate are skipped.
/// </summary>
internal static unsafe class ClassCandidates
{
    public static void Fill(ReadOnlySpan<float> conf, bool isProbability, int priors, int classes, int background, float threshold,
        DenseWorkspace ws, int workers)
    {
        fixed (float* pc = conf)
        {
            int halves = priors >= 2048 ? Math.Clamp(workers, 1, 2) : 1;
            ws.Halves = halves;
            var job = new FillJob(pc, ws, isProbability, priors, classes, background, threshold, halves);
            WorkerPool.Run(halves, halves, job, static (j, _, half) => j.Run(half));
        }
    }

    private readonly struct FillJob(float* conf, DenseWorkspace ws, bool isProbability, int priors, int classes, int background, float threshold, int halves)
    {
        public void Run(int half)
        {
            int from = half == 0 ? 0 : priors / 2, to = halves == 1 || half == 1 ? priors : priors / 2;
            var hits = ws.Hits[half];
            Array.Clear(hits.Count);
            int cap = hits.Capacity, padded = (classes + Vector<float>.Count - 1) / Vector<float>.Count * Vector<float>.Count;
            Span<float> row = classes <= 1024 ? stackalloc float[classes] : new float[classes];
            Span<float> approx = padded <= 1024 ? stackalloc float[padded] : new float[padded];
            // The quick test only ever skips a row; it cannot tell a hit for certain, so a row it keeps is done exactly.
            // A saturated head makes the screen pure overhead: it stops when more than 384 of 512 rows pass.
            bool screen = threshold > 0f && float.IsFinite(threshold);
            int screened = 0, passed = 0;
            fixed (int* pp = hits.Prior, count = hits.Count)
            fixed (float* ps = hits.Score)
                for (int i = from; i < to; i++)
                {
                    if (screen && screened == 512) (screen, screened, passed) = (passed <= 384, 0, 0);
                    var x = new ReadOnlySpan<float>(conf + (long)i * classes, classes);
                    if (screen && ++screened > 0
                        && !(isProbability ? AnyAbove(x, threshold) : ApproximateSoftmaxMayPass(x, approx, background, threshold))) continue;
                    passed++;
                    if (isProbability) x.CopyTo(row);
                    else SoftmaxReference.Row(x, row);
                    for (int k = 0; k < classes; k++)
                    {
                        float v = row[k];
                        if (!(v > threshold) || k == background) continue;
                        int at = k * cap + count[k]++;
                        pp[at] = i;
                        ps[at] = v;
                    }
                }
        }
    }

    private static bool AnyAbove(ReadOnlySpan<float> x, float threshold)
    {
        int k = 0;
        var t = new Vector<float>(threshold);
        for (; k + Vector<float>.Count <= x.Length; k += Vector<float>.Count)
            if (Vector.GreaterThanAny(new Vector<float>(x.Slice(k)), t)) return true;
        for (; k < x.Length; k++)
            if (x[k] > threshold) return true;
        return false;
    }

    /// <summary>
    /// Whether a non-background class of this logit row may have a softmax probability above the threshold, from
    /// .NET's vectorised exp (a few ulp, not MathF.Exp's bits): a row is skipped only when every such class is below
    /// threshold x (1 - 1e-3) even so, a margin far above the approximation's and the sum's rounding errors.
    /// Non-finite rows are always kept (the exact path then gives what the reference gives).
    /// </summary>
    private static bool ApproximateSoftmaxMayPass(ReadOnlySpan<float> x, Span<float> e, int background, float threshold)
    {
        int classes = x.Length, w = Vector<float>.Count;
        x.CopyTo(e);
        e[classes..].Fill(float.NegativeInfinity);
        var vmax = new Vector<float>(float.NegativeInfinity);
        for (int k = 0; k < e.Length; k += w) vmax = Vector.Max(vmax, new Vector<float>(e.Slice(k)));
        float max = float.NegativeInfinity;
        for (int j = 0; j < w; j++) max = MathF.Max(max, vmax[j]);
        if (!float.IsFinite(max)) return true;
        var m = new Vector<float>(max);
        var sum = Vector<float>.Zero;
        for (int k = 0; k < e.Length; k += w)
        {
            var v = Vector.Exp(new Vector<float>(e.Slice(k)) - m);
            v.CopyTo(e.Slice(k));
            sum += v;
        }
        float s = Vector.Sum(sum);
        if (!float.IsFinite(s)) return true;
        e[background] = 0f;
        e[classes..].Clear();
        var bar = new Vector<float>(threshold * s * (1f - 1e-3f));
        for (int k = 0; k < e.Length; k += w)
            if (Vector.GreaterThanAny(new Vector<float>(e.Slice(k)), bar)) return true;
        return false;
    }
}
