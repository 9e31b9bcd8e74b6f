namespace Ssd.Kernels.Cpu;

/// <summary>
/// The ISA level and thread count a memory-bound CPU op (pooling, L2Norm, softmax, permute, concat, ReLU) runs with,
/// and how it cuts its work into tasks for <see cref="WorkerPool"/>.
/// </summary>
public readonly record struct CpuOpOptions(CpuIsa? Isa = null, int? Threads = null)
{
    /// <summary>The widest ISA this CPU runs, on every core.</summary>
    public static CpuOpOptions Default => new();

    /// <summary>The forced ISA (checked against this CPU) or the widest one it runs.</summary>
    public CpuIsa ResolvedIsa => Isa is { } forced ? CpuIsaSupport.Require(forced) : CpuIsaSupport.Best;

    /// <summary>The thread count: the forced one, else one per logical processor.</summary>
    /// <exception cref="ArgumentException">The forced count is not positive.</exception>
    public int ResolvedThreads => Threads is { } t
        ? t > 0 ? t : throw new ArgumentException($"cpu op: thread count {t} must be positive")
        : Environment.ProcessorCount;

    /// <summary>
    /// Below ~64 K touched floats (a few microseconds) an op stays on the calling thread: waking a second thread on a
    /// busy machine costs more than the work.
    /// </summary>
    internal int WorkersFor(long touchedFloats) => touchedFloats < 65536 ? 1 : ResolvedThreads;

    /// <summary>Tasks of about <paramref name="grain"/> floats each, never fewer than one item per task.</summary>
    internal static int ItemsPerTask(int items, long floatsPerItem, long grain) =>
        (int)Math.Clamp(grain / Math.Max(1, floatsPerItem), 1, Math.Max(1, items));
}
