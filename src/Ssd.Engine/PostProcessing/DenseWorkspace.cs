using Ssd.Kernels.Detect;

namespace Ssd.Engine.PostProcessing;

/// <summary>
/// The buffers one post-processing call works in, sized for a model's priors and classes and kept between calls
/// (a dense call would otherwise allocate megabytes): the candidates by class, the per-class results (at most
/// PerClass items per class, each class in its own slot, so classes can be filled in parallel and read back in
/// class order), and one scratch set per worker.
/// </summary>
internal sealed class DenseWorkspace
{
    public const int MaxWorkers = 2;

    public int Priors { get; }
    public int Classes { get; }
    /// <summary>Slots per class: the per-class cap (top_k), or every prior when there is none.</summary>
    public int PerClass { get; }
    /// <summary>Each half of the priors' candidates, by class (<see cref="ClassCandidates"/>); Halves says how many are in use.</summary>
    public ClassHits[] Hits { get; }
    public int Halves { get; set; } = 1;
    public int[] Count { get; }
    public float[] Score { get; }
    /// <summary>xyxy of each slot's box.</summary>
    public float[] Box { get; }
    public Worker[] Workers { get; }

    public DenseWorkspace(int priors, int classes, int perClassCap)
    {
        (Priors, Classes) = (priors, classes);
        PerClass = perClassCap > 0 ? Math.Min(perClassCap, priors) : priors;
        // Half 0 holds every prior when the priors are not split.
        Hits = [new ClassHits(classes, priors), new ClassHits(classes, priors - priors / 2)];
        Count = new int[classes];
        Score = new float[(long)classes * PerClass];
        Box = new float[4L * classes * PerClass];
        Workers = new Worker[MaxWorkers];
        for (int w = 0; w < MaxWorkers; w++) Workers[w] = new Worker(priors);
    }

    /// <summary>
    /// Workers for the per-class phase: with few candidates (a real image, or thousands) the classes take well under
    /// a millisecond, less than making a second thread join on a busy machine costs.
    /// </summary>
    public int ClassWorkers(int workers)
    {
        long total = 0;
        for (int h = 0; h < Halves; h++)
            foreach (int n in Hits[h].Count) total += n;
        return total >= 32768 ? workers : 1;
    }

    /// <summary>
    /// The kept boxes of every class (their slots), best first over all classes; equal scores keep the lower class,
    /// then the class's own order. At most <paramref name="keepTopK"/> (&lt;= 0: all); boxes multiplied by (sx, sy).
    /// </summary>
    public PostDetection[] RankedDetections(int keepTopK, float threshold, float sx, float sy)
    {
        int total = Count.Sum();
        // The slots in class order, then each class's own: keys ascending with the position, as TopK wants.
        var slots = new int[total];
        var score = new float[total];
        for (int cls = 0, k = 0; cls < Classes; cls++)
            for (int r = 0; r < Count[cls]; r++, k++)
                (slots[k], score[k]) = (cls * PerClass + r, Score[cls * PerClass + r]);
        var best = new Ranked[total];
        int top = TopK.Select(total, score, slots, threshold, keepTopK, higherKeyFirst: false, new ulong[total], best);
        var detections = new PostDetection[top];
        for (int r = 0; r < top; r++)
        {
            var (s, slot) = best[r];
            var b = Box.AsSpan(4 * slot, 4);
            detections[r] = new PostDetection(slot / PerClass, s, b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy);
        }
        return detections;
    }

    /// <summary>The coordinate trick's step over the boxes in all slots (<see cref="PostProcessRules.CoordinateTrickStep"/>).</summary>
    public float CoordinateTrickStep()
    {
        float max = float.NegativeInfinity;
        for (int cls = 0; cls < Classes; cls++)
            foreach (float v in Box.AsSpan(4 * cls * PerClass, 4 * Count[cls])) max = MathF.Max(max, v);
        return PostProcessRules.CoordinateTrickStep(Count.Sum(), max);
    }

    /// <summary>Copies the class's candidates (half 0's, then half 1's: prior order) into the worker's lists; returns how many.</summary>
    public int Gather(int cls, Worker w)
    {
        int m = 0;
        for (int h = 0; h < Halves; h++)
        {
            var hits = Hits[h];
            int n = hits.Count[cls];
            Array.Copy(hits.Prior, cls * hits.Capacity, w.Prior, m, n);
            Array.Copy(hits.Score, cls * hits.Capacity, w.Score, m, n);
            m += n;
        }
        return m;
    }

    /// <summary>Per class: up to Capacity (prior, probability) candidates, class c's at [c * Capacity ..].</summary>
    public sealed class ClassHits(int classes, int capacity)
    {
        public int Capacity { get; } = capacity;
        public int[] Count { get; } = new int[classes];
        public int[] Prior { get; } = new int[(long)classes * capacity];
        public float[] Score { get; } = new float[(long)classes * capacity];
    }

    /// <summary>Two workers once the score matrix is big enough to pay for waking a thread.</summary>
    public int WorkerCount => (long)Priors * Classes >= 32768 && Environment.ProcessorCount > 1 ? MaxWorkers : 1;

    /// <summary>One worker's scratch: a class's candidates, its sort keys and ranked top, its NMS columns.</summary>
    public sealed class Worker(int priors)
    {
        public int[] Prior { get; } = new int[priors];
        public float[] Score { get; } = new float[priors];
        public ulong[] SortKeys { get; } = new ulong[priors];
        public Ranked[] Ranked { get; } = new Ranked[priors];
        public GreedyNms Nms { get; } = new();
        public List<int> Keep { get; } = new();
    }
}
