using System.Collections.Concurrent;
using System.Diagnostics;

namespace Ssd.Engine.Training.Data;

/// <summary>
/// Background workers that produce batches ahead of the training step: batch b is <c>produce(b)</c>, a pure function
/// of b (decode and augment the sampler's images with their (seed, epoch, index)), so what a batch holds does not
/// depend on which worker made it or when. <see cref="Next"/> hands the batches out in order start, start + 1, ...;
/// at most <c>prefetch</c> batches are made or waiting at any time (the bound on memory). <see cref="Waited"/> is the
/// time the consumer spent blocked in <see cref="Next"/>: zero when data keeps up with the step.
/// <para>Workers: the step itself uses the cores, so the default is one worker on 2 cores and cores / 4 (at least 1)
/// above; more workers only help when decode + augment of a batch takes longer than a step. A worker's exception is
/// rethrown by <see cref="Next"/> for the batch it failed on.</para>
/// </summary>
public sealed class PrefetchPipeline<T> : IDisposable
{
    private readonly Func<long, T> produce;
    private readonly ConcurrentDictionary<long, T> ready = new();
    private readonly ConcurrentDictionary<long, Exception> failed = new();
    private readonly SemaphoreSlim slots;
    private readonly SemaphoreSlim arrived = new(0);
    private readonly CancellationTokenSource stop = new();
    private readonly Task[] workers;
    private long nextToMake;
    private long nextToHand;
    private readonly Stopwatch waited = new();

    /// <summary>The workers used when none are asked for: 1 on up to 2 cores, else a quarter of the cores.</summary>
    public static int DefaultWorkers => Environment.ProcessorCount <= 2 ? 1 : Math.Max(1, Environment.ProcessorCount / 4);

    /// <summary>Starts the workers.</summary>
    /// <param name="produce">Makes batch b; a pure function of b, called on worker threads.</param>
    /// <param name="workers">The worker threads, 0 (<see cref="DefaultWorkers"/>) up to the core count.</param>
    /// <param name="prefetch">The most batches made or waiting at once, at least 1.</param>
    /// <param name="start">The first batch handed out (a resumed run's step).</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    public PrefetchPipeline(Func<long, T> produce, int workers = 0, int prefetch = 4, long start = 0)
    {
        ArgumentNullException.ThrowIfNull(produce);
        if (workers < 0 || workers > Environment.ProcessorCount) throw new ArgumentOutOfRangeException(nameof(workers), workers, $"data workers must be 0 (default) .. {Environment.ProcessorCount} (the cores)");
        if (prefetch < 1) throw new ArgumentOutOfRangeException(nameof(prefetch), prefetch, "prefetch must be at least 1 batch");
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        this.produce = produce;
        slots = new SemaphoreSlim(prefetch);
        nextToMake = start;
        nextToHand = start;
        Workers = workers == 0 ? DefaultWorkers : workers;
        Prefetch = prefetch;
        this.workers = Enumerable.Range(0, Workers).Select(_ => Task.Factory.StartNew(Work, TaskCreationOptions.LongRunning)).ToArray();
    }

    /// <summary>The worker threads running.</summary>
    public int Workers { get; }
    /// <summary>The most batches made or waiting at once.</summary>
    public int Prefetch { get; }

    /// <summary>Total time <see cref="Next"/> waited for data.</summary>
    public TimeSpan Waited => waited.Elapsed;

    /// <summary>The next batch in order, waiting for it if no worker has finished it yet.</summary>
    public T Next()
    {
        ObjectDisposedException.ThrowIf(stop.IsCancellationRequested, this);
        long b = nextToHand;
        while (true)
        {
            if (ready.TryRemove(b, out var batch)) { nextToHand++; slots.Release(); return batch; }
            if (failed.TryRemove(b, out var error)) throw new InvalidOperationException($"data pipeline: batch {b} failed: {error.Message}", error);
            waited.Start();
            arrived.Wait(stop.Token);
            waited.Stop();
        }
    }

    private void Work()
    {
        try
        {
            while (true)
            {
                slots.Wait(stop.Token);
                long b = Interlocked.Increment(ref nextToMake) - 1;
                try { ready[b] = produce(b); }
                catch (Exception e) { failed[b] = e; }
                arrived.Release();
            }
        }
        catch (OperationCanceledException) { }
    }

    /// <summary>Stops the workers and waits for them; batches not handed out are dropped.</summary>
    public void Dispose()
    {
        if (stop.IsCancellationRequested) return;
        stop.Cancel();
        try { Task.WaitAll(workers); } catch (AggregateException) { }
        stop.Dispose();
    }
}
