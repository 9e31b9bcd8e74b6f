namespace Ssd.Engine.PostProcessing;

/// <summary>
/// The buffers one post-processing call works in, sized for a model's priors and classes and kept between calls
/// (a dense call would otherwise allocate megabytes): the class-major probabilities, the per-class results (at most
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
    /// <summary>[class, prior] probabilities, each class's row Stride floats apart (whole cache lines).</summary>
    public float[] ClassMajor { get; }
    public int Stride { get; }
    public ReadOnlySpan<float> ClassRow(int cls) => ClassMajor.AsSpan(cls * Stride, Priors);
    public int[] Count { get; }
    public float[] Score { get; }
    public int[] Key { get; }
    /// <summary>xyxy of each slot's box.</summary>
    public float[] Box { get; }
    public Worker[] Workers { get; }

    public DenseWorkspace(int priors, int classes, int perClassCap)
    {
        (Priors, Classes) = (priors, classes);
        PerClass = perClassCap > 0 ? Math.Min(perClassCap, priors) : priors;
        Stride = (priors + 15) / 16 * 16;
        ClassMajor = new float[(long)classes * Stride];
        Count = new int[classes];
        Score = new float[(long)classes * PerClass];
        Key = new int[(long)classes * PerClass];
        Box = new float[4L * classes * PerClass];
        Workers = new Worker[MaxWorkers];
        for (int w = 0; w < MaxWorkers; w++) Workers[w] = new Worker(priors);
    }

    /// <summary>Two workers once the score matrix is big enough to pay for waking a thread.</summary>
    public int WorkerCount => (long)Priors * Classes >= 32768 && Environment.ProcessorCount > 1 ? MaxWorkers : 1;

    /// <summary>One worker's scratch: a class's candidates, its sort keys and ranked top, its NMS columns.</summary>
    public sealed class Worker(int priors)
    {
        public int[] Prior { get; } = new int[priors];
        public float[] Score { get; } = new float[priors];
        public ulong[] SortKeys { get; } = new ulong[priors];
        public int[] Ties { get; } = new int[priors];
        public Ranked[] Ranked { get; } = new Ranked[priors];
        public GreedyNms Nms { get; } = new();
        public List<int> Keep { get; } = new();
        public float[] Box { get; } = new float[4];
    }

    /// <summary>Hands out a cached workspace (one caller at a time gets it; a concurrent caller gets a fresh one).</summary>
    public sealed class Cache(int priors, int classes, int perClassCap)
    {
        private DenseWorkspace? cached;

        public DenseWorkspace Rent() => Interlocked.Exchange(ref cached, null) ?? new DenseWorkspace(priors, classes, perClassCap);

        public void Return(DenseWorkspace workspace) => cached = workspace;
    }
}
