using System.Numerics;
using System.Runtime.InteropServices;
using Ssd.Kernels.Cpu;

namespace Ssd.Engine.PostProcessing;

/// <summary>
/// One image's candidates, by class: every (prior, class != background) whose probability is above the confidence
/// threshold, appended to its class's list in prior order, so each class's candidates are ready without a scan of
/// all priors and the classes can be worked on in parallel. The two halves of the priors are done on two workers,
/// each into its own lists (half 0's then half 1's is prior order). The softmax of a logit row is fused into the pass
/// (the arithmetic of <see cref="Ssd.Kernels.Softmax.SoftmaxReference"/>, in its order, so the probabilities are bit
/// for bit the references'); rows a quick screen proves to have no candidate are skipped.
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
            var count = hits.Count;
            Array.Clear(count);
            int cap = hits.Capacity;
            fixed (int* pp = hits.Prior)
            fixed (float* ps = hits.Score)
            {
                float* row = stackalloc float[Math.Min(classes, 1024)];
                if (classes > 1024) row = (float*)NativeMemory.Alloc((nuint)classes, sizeof(float));
                int padded = (classes + Vector<float>.Count - 1) / Vector<float>.Count * Vector<float>.Count;
                Span<float> approx = padded <= 1024 ? stackalloc float[padded] : new float[padded];
                // The quick test only ever skips a row; it cannot tell a hit for certain, so a row it keeps is done exactly.
                bool screen = threshold > 0f && float.IsFinite(threshold);
                int screened = 0, passed = 0;
                for (int i = from; i < to; i++)
                {
                    if (!Row(i, new Span<float>(row, classes), approx, ref screen, ref screened, ref passed)) continue;
                    for (int k = 0; k < classes; k++)
                    {
                        float v = row[k];
                        if (!(v > threshold) || k == background) continue;
                        int at = k * cap + count[k]++;
                        pp[at] = i;
                        ps[at] = v;
                    }
                }
                if (classes > 1024) NativeMemory.Free(row);
            }
        }

        /// <summary>Row i's probabilities; false when the screen proves none passes.</summary>
        private bool Row(int i, Span<float> row, Span<float> approx, ref bool screen, ref int screened, ref int passed)
        {
            // A saturated head (most rows pass) makes the screen pure overhead: stop screening then.
            if (screen && screened == 512)
            {
                if (passed > 384) screen = false;
                screened = passed = 0;
            }
            var x = new ReadOnlySpan<float>(conf + (long)i * classes, classes);
            if (isProbability)
            {
                if (screen && (++screened > 0) && !AnyAbove(x, threshold)) return false;
                passed++;
                x.CopyTo(row);
            }
            else
            {
                if (screen && (++screened > 0) && !ApproximateSoftmaxMayPass(x, approx, background, threshold)) return false;
                passed++;
                // SoftmaxReference.Forward's arithmetic, in its order.
                float max = float.NegativeInfinity;
                for (int k = 0; k < classes; k++) max = MathF.Max(max, x[k]);
                float sum = 0f;
                for (int k = 0; k < classes; k++)
                {
                    float e = MathF.Exp(x[k] - max);
                    row[k] = e;
                    sum += e;
                }
                for (int k = 0; k < classes; k++) row[k] /= sum;
            }
            return true;
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
    /// Whether a non-background class of this logit row may have a softmax probability above the threshold, from a
    /// vectorised exp accurate to about 1e-7 relative: a row is skipped only when every such class is below
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
            var v = ExpNonPositive(new Vector<float>(e.Slice(k)) - m);
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

    /// <summary>exp(x) for x &lt;= 0 (NaN for NaN): 2^n * 2^f, f in [-0.5, 0.5], 2^f by its Taylor series to f^6 (error &lt; 2e-7).</summary>
    private static Vector<float> ExpNonPositive(Vector<float> x)
    {
        x = Vector.Max(x, new Vector<float>(-87f));
        var t = x * new Vector<float>(1.44269504f);
        var n = Vector.Floor(t + new Vector<float>(0.5f));
        var f = (t - n) * new Vector<float>(0.693147181f);
        var p = Vector<float>.One + f * (Vector<float>.One + f * (new Vector<float>(1f / 2) + f * (new Vector<float>(1f / 6)
            + f * (new Vector<float>(1f / 24) + f * (new Vector<float>(1f / 120) + f * new Vector<float>(1f / 720))))));
        var scale = Vector.AsVectorSingle((Vector.ConvertToInt32(n) + new Vector<int>(127)) << 23);
        return p * scale;
    }
}
