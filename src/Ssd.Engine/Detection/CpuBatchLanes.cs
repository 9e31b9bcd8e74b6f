using Ssd.Engine.Backends.Cpu;
using Ssd.Engine.Graph;
using Ssd.Engine.Network;
using Ssd.Kernels.Cpu;
using Ssd.Weights.Model;

namespace Ssd.Engine.Detection;

/// <summary>
/// A batch on the CPU backend, image-parallel: one single-threaded batch-1 network per core ("lane"), each lane
/// pulling the next image of the batch until all have run. Against one network planned for the whole batch with every
/// layer split over the cores, nothing waits at a per-layer barrier, the small layers (19x19 and below, which one
/// core runs alone at batch 1) and the memory-bound ops keep every core busy, and the activations are bounded by
/// <c>lanes x</c> the batch-1 arena whatever the batch (a batch-N plan's arena grows N-fold). Each image's loc / conf
/// are those of a batch-1 network bit for bit: the CPU ops' results do not depend on the thread count.
/// Built on first use, shared by every batch size of the detector's lane; used by one call at a time.
/// </summary>
internal sealed class CpuBatchLanes : IDisposable
{
    private readonly ModelDescription model;
    private readonly ModelWeights weights;
    private readonly CpuBackend single;
    private readonly int width, height;
    private readonly List<SsdNetwork> lanes = [];

    /// <param name="model">The model, sized for the input.</param>
    /// <param name="weights">The weights every lane reads (shared).</param>
    /// <param name="options">The detector's CPU options; their thread count is the most lanes (each lane runs on one thread).</param>
    /// <param name="width">The input width.</param>
    /// <param name="height">The input height.</param>
    public CpuBatchLanes(ModelDescription model, ModelWeights weights, CpuOpOptions options, int width, int height)
    {
        (this.model, this.weights, this.width, this.height) = (model, weights, width, height);
        MaxLanes = options.ResolvedThreads;
        single = new CpuBackend(options with { Threads = 1 });
    }

    /// <summary>The most lanes (networks) a batch uses: the CPU thread count.</summary>
    public int MaxLanes { get; }

    /// <summary>The lanes built so far (at most <see cref="MaxLanes"/>; a batch of n builds min(n, MaxLanes)).</summary>
    public int Count => lanes.Count;

    /// <summary>The activation arenas of the lanes built so far, in bytes (each a batch-1 arena).</summary>
    public long ArenaBytes => lanes.Sum(l => l.ArenaBytes);

    /// <summary>Whether a batch of <paramref name="batch"/> images runs on lanes: more than one image and more than one thread.</summary>
    public static bool Applies(int batch, CpuOpOptions options) => batch > 1 && options.ResolvedThreads > 1;

    /// <summary>Runs a pre-processed NCHW batch; loc [N, P*4] and conf [N, P*C] as one network planned for the batch returns them.</summary>
    public (float[] Loc, float[] Conf) Forward(float[] input, int batch)
    {
        if (batch <= 0 || input.Length % batch != 0) throw new ArgumentException($"cpu lanes: {input.Length} input floats do not split into {batch} images");
        int workers = Math.Min(MaxLanes, batch);
        while (lanes.Count < workers) lanes.Add(SsdNetwork.Load(model, weights, single, width, height, batch: 1));
        int per = input.Length / batch;
        if (per != lanes[0].Plan.Input.Count)
            throw new ArgumentException($"cpu lanes: {per} input floats per image, the network expects {lanes[0].Plan.Input.ShapeText}");
        long locPer = lanes[0].Plan.Loc.Count, confPer = lanes[0].Plan.Conf.Count;
        var loc = new float[batch * locPer];
        var conf = new float[batch * confPer];
        WorkerPool.Run(batch, workers, (Lanes: lanes, Input: input, Loc: loc, Conf: conf, Per: per, LocPer: (int)locPer, ConfPer: (int)confPer),
            static (s, lane, image) =>
            {
                var (l, c) = s.Lanes[lane].ForwardOnDevice(s.Input.AsSpan(image * s.Per, s.Per));
                l.Span.CopyTo(s.Loc.AsSpan(image * s.LocPer, s.LocPer));
                c.Span.CopyTo(s.Conf.AsSpan(image * s.ConfPer, s.ConfPer));
            });
        return (loc, conf);
    }

    public void Dispose()
    {
        foreach (var lane in lanes) lane.Dispose();
        lanes.Clear();
        single.Dispose();
    }
}
