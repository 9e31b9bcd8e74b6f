using System.Numerics;

namespace Ssd.Engine.PostProcessing;

/// <summary>
/// One image's candidates: every (prior, class) whose probability is above the confidence threshold, grouped by
/// class and in prior order inside a class. Made in one pass over the [P, C] scores, with the softmax of a logit
/// row fused into it (the same arithmetic as <see cref="Ssd.Kernels.Softmax.SoftmaxReference"/>, so the
/// probabilities are bit for bit those of the references), and without storing the full probability matrix.
/// </summary>
internal sealed class ClassCandidates
{
    private readonly int[] start;

    public int[] Prior { get; }
    public float[] Score { get; }

    private ClassCandidates(int[] start, int[] prior, float[] score) => (this.start, Prior, Score) = (start, prior, score);

    public int Start(int cls) => start[cls];
    public int End(int cls) => start[cls + 1];

    public static ClassCandidates Find(ReadOnlySpan<float> conf, bool isProbability, int priors, int classes, int background, float threshold)
    {
        // Two halves of the priors on two threads; each half's hits are in prior order, so half 0 then half 1 is too.
        int halves = priors >= 2048 && Environment.ProcessorCount > 1 ? 2 : 1;
        var parts = new Hits[halves];
        if (halves == 1) parts[0] = Scan(conf, isProbability, 0, priors, classes, background, threshold);
        else
        {
            unsafe
            {
                fixed (float* pc = conf)
                {
                    var ptr = (IntPtr)pc;
                    int length = conf.Length, mid = priors / 2;
                    Parallel.For(0, 2, h =>
                    {
                        var all = new ReadOnlySpan<float>((float*)ptr, length);
                        parts[h] = h == 0 ? Scan(all, isProbability, 0, mid, classes, background, threshold)
                                          : Scan(all, isProbability, mid, priors, classes, background, threshold);
                    });
                }
            }
        }

        // Counting sort by class, stable.
        var start = new int[classes + 1];
        foreach (var part in parts)
            for (int k = 0; k < part.Count; k++) start[part.Class[k] + 1]++;
        for (int c = 0; c < classes; c++) start[c + 1] += start[c];
        var fill = start.AsSpan(0, classes).ToArray();
        var prior = new int[start[classes]];
        var score = new float[start[classes]];
        foreach (var part in parts)
            for (int k = 0; k < part.Count; k++)
            {
                int at = fill[part.Class[k]]++;
                prior[at] = part.Prior[k];
                score[at] = part.Score[k];
            }
        return new ClassCandidates(start, prior, score);
    }

    private sealed class Hits
    {
        public int[] Class = new int[1024], Prior = new int[1024];
        public float[] Score = new float[1024];
        public int Count;

        public void Add(int cls, int prior, float score)
        {
            if (Count == Class.Length)
            {
                Array.Resize(ref Class, 2 * Count);
                Array.Resize(ref Prior, 2 * Count);
                Array.Resize(ref Score, 2 * Count);
            }
            Class[Count] = cls;
            Prior[Count] = prior;
            Score[Count++] = score;
        }
    }

    private static Hits Scan(ReadOnlySpan<float> conf, bool isProbability, int from, int to, int classes, int background, float threshold)
    {
        var hits = new Hits();
        Span<float> row = classes <= 1024 ? stackalloc float[classes] : new float[classes];
        int padded = (classes + Vector<float>.Count - 1) / Vector<float>.Count * Vector<float>.Count;
        Span<float> approx = padded <= 1024 ? stackalloc float[padded] : new float[padded];
        // The quick test only ever skips a row; it cannot tell a hit for certain, so a row it keeps is done exactly.
        bool screen = threshold > 0f && float.IsFinite(threshold);
        for (int i = from; i < to; i++)
        {
            var x = conf.Slice(i * classes, classes);
            if (isProbability)
            {
                if (screen && !AnyAbove(x, threshold)) continue;
                x.CopyTo(row);
            }
            else
            {
                if (screen && !ApproximateSoftmaxMayPass(x, approx, background, threshold)) continue;
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
            for (int k = 0; k < classes; k++)
                if (row[k] > threshold && k != background) hits.Add(k, i, row[k]);
        }
        return hits;
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
