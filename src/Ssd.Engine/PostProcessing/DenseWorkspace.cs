using Ssd.Kernels.Detect;
using Ssd.Kernels.Softmax;

namespace Ssd.Engine.PostProcessing;

/// <summary>
/// The buffers one post-processing call works in, sized for a model's priors and classes and kept between calls
/// (a dense call would otherwise allocate megabytes): the candidates by class (<see cref="FindCandidates"/>), the
/// per-class results (at most PerClass items per class, each class in its own slot, so classes can be filled in
/// parallel and read back in class order), and one scratch set per worker.
/// </summary>
internal sealed class DenseWorkspace
{
    public const int MaxWorkers = 2;

    public int Priors { get; }
    public int Classes { get; }
    /// <summary>Slots per class: the per-class cap (top_k), or every prior when there is none.</summary>
    public int PerClass { get; }
    /// <summary>Per class its candidates (prior, probability) in prior order, class c's at [c * Priors ..].</summary>
    public int[] HitCount { get; }
    public int[] HitPrior { get; }
    public float[] HitScore { get; }
    public int[] Count { get; }
    public float[] Score { get; }
    /// <summary>xyxy of each slot's box.</summary>
    public float[] Box { get; }
    public Worker[] Workers { get; }

    public DenseWorkspace(int priors, int classes, int perClassCap)
    {
        (Priors, Classes) = (priors, classes);
        PerClass = perClassCap > 0 ? Math.Min(perClassCap, priors) : priors;
        (HitCount, HitPrior, HitScore) = (new int[classes], new int[(long)classes * priors], new float[(long)classes * priors]);
        Count = new int[classes];
        Score = new float[(long)classes * PerClass];
        Box = new float[4L * classes * PerClass];
        Workers = [new Worker(priors), new Worker(priors)];
    }

    /// <summary>
    /// One image's candidates, by class: every (prior, class != background) whose probability (conf, or its softmax
    /// by <see cref="SoftmaxReference.Row"/>: bit for bit the references') is above the threshold, appended to its
    /// class's list, so each class's candidates are ready without a scan of all priors.
    /// </summary>
    public void FindCandidates(ReadOnlySpan<float> conf, PostProcessParams p)
    {
        Array.Clear(HitCount);
        Span<float> row = Classes <= 1024 ? stackalloc float[Classes] : new float[Classes];
        for (int i = 0; i < Priors; i++)
        {
            var x = conf.Slice(i * Classes, Classes);
            if (!p.ConfIsProbability) SoftmaxReference.Row(x, row);
            ReadOnlySpan<float> probability = p.ConfIsProbability ? x : row;
            for (int k = 0; k < Classes; k++)
            {
                if (!(probability[k] > p.ConfidenceThreshold) || k == p.BackgroundId) continue;
                int at = k * Priors + HitCount[k]++;
                (HitPrior[at], HitScore[at]) = (i, probability[k]);
            }
        }
    }

    /// <summary>
    /// Workers for the per-class phase: with few candidates (a real image, or thousands) the classes take well under
    /// a millisecond, less than making a second thread join on a busy machine costs.
    /// </summary>
    public int ClassWorkers(int workers) => HitCount.Sum() >= 32768 && Environment.ProcessorCount > 1 ? workers : 1;

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
        int top = TopK.Select(score, slots, threshold, keepTopK, higherKeyFirst: false, new ulong[total], best);
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

    /// <summary>One worker's scratch: a class's sort keys and ranked top, its NMS columns.</summary>
    public sealed class Worker(int priors)
    {
        public ulong[] SortKeys { get; } = new ulong[priors];
        public Ranked[] Ranked { get; } = new Ranked[priors];
        public GreedyNms Nms { get; } = new();
        public List<int> Keep { get; } = new();
    }
}
