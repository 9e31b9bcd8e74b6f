namespace Ssd.Kernels.Cpu;

/// <summary>
/// Runs tasks 0..count-1 on up to <c>workers</c> threads. Each worker pulls the next task index from a shared counter
/// (dynamic scheduling: the machine is shared, so static halves would wait on the slower core) and is told its own
/// worker number, so it can use that worker's scratch buffers without locking.
/// </summary>
internal static class WorkerPool
{
    /// <summary>
    /// Work below ~8 MFLOP (a tenth of a millisecond on one core: the small SSD extra layers) runs on the calling
    /// thread; waking a second thread on a busy machine can cost more than the work.
    /// </summary>
    public static int WorkersFor(double flops, int threads) => flops < 8e6 ? 1 : threads;

    [ThreadStatic] private static int peak;

    /// <summary>The most workers a Run called from this thread has used since it was last reset (tests check that a
    /// thread count bounds the parallelism).</summary>
    internal static int PeakWorkers { get => peak; set => peak = value; }

    /// <summary>Runs <paramref name="body"/>(state, worker, task) for every task on up to <paramref name="workers"/> threads (the calling one among them).</summary>
    public static void Run<TState>(int count, int workers, TState state, Action<TState, int, int> body)
    {
        workers = Math.Max(1, Math.Min(workers, count));
        if (workers > peak) peak = workers;
        if (workers == 1)
        {
            for (int t = 0; t < count; t++) body(state, 0, t);
            return;
        }
        int next = -1;
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, worker =>
        {
            for (int t; (t = Interlocked.Increment(ref next)) < count;) body(state, worker, t);
        });
    }
}
