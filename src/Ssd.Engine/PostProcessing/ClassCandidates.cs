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
        for (int i = from; i < to; i++)
        {
            var x = conf.Slice(i * classes, classes);
            if (isProbability) x.CopyTo(row);
            else
            {
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
}
