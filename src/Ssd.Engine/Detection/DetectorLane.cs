namespace Ssd.Engine.Detection;

/// <summary>
/// One running call's networks: the pipeline of a fixed input size, or a bounded cache of pipelines by image size
/// (native input size), with the cache of networks (input size x batch size) they share. A detector keeps up to
/// <see cref="SsdDetectorOptions.MaxConcurrency"/> lanes and hands each call one of them, so calls never share a
/// network's buffers. Used by one call at a time.
/// </summary>
internal sealed class DetectorLane : IDisposable
{
    private readonly DetectorPipeline? fixedPipeline;
    private readonly Func<int, int, DetectorPipeline>? createForSize;
    private readonly NetworkCache<(int Width, int Height), DetectorPipeline>? bySize;
    private readonly IDisposable? networks;
    private readonly Func<int>? networkCount;

    /// <param name="fixedPipeline">The pipeline of a fixed input size (null: native, built per size by <paramref name="createForSize"/>).</param>
    /// <param name="createForSize">Builds the pipeline of one native size.</param>
    /// <param name="maxPipelines">The most native-size pipelines kept.</param>
    /// <param name="networks">The lane's network cache (owned), and how many networks it holds now.</param>
    public DetectorLane(DetectorPipeline? fixedPipeline, Func<int, int, DetectorPipeline>? createForSize, int maxPipelines,
        (IDisposable Cache, Func<int> Count)? networks = null)
    {
        (this.fixedPipeline, this.createForSize) = (fixedPipeline, createForSize);
        if (createForSize is not null) bySize = new(maxPipelines);
        (this.networks, networkCount) = (networks?.Cache, networks?.Count);
    }

    /// <summary>The activation arenas of the lane's networks built now, in bytes.</summary>
    public long ArenaBytes
    {
        get
        {
            var pipelines = fixedPipeline is not null ? [fixedPipeline]
                : bySize is null ? [] : bySize.Keys.Select(k => bySize.TryPeek(k, out var p) ? p : null).OfType<DetectorPipeline>().ToList();
            return pipelines.Sum(p => (p.Network as EngineNetwork)?.ArenaBytes ?? 0);
        }
    }

    /// <summary>The fixed input size's pipeline, or null for native sizes (<see cref="PipelineFor"/>).</summary>
    public DetectorPipeline? Fixed => fixedPipeline;

    /// <summary>How many networks the lane holds built now.</summary>
    public int CachedNetworks => networkCount?.Invoke() ?? 0;

    /// <summary>The pipeline for one native size, from the cache or built now; null (with the reason) when the network
    /// cannot run at that size, e.g. an image smaller than its layers allow.</summary>
    public DetectorPipeline? PipelineFor(int width, int height, string modelName, out ImageSizeException? error)
    {
        error = null;
        try { return bySize!.Get((width, height), k => createForSize!(k.Width, k.Height)); }
        catch (Exception e) when (e is InvalidDataException or ArgumentException)
        {
            error = new ImageSizeException($"image {width}x{height}: {modelName} cannot run at this native size ({e.Message})", e);
            return null;
        }
    }

    public void Dispose()
    {
        fixedPipeline?.Dispose();
        bySize?.Dispose();
        networks?.Dispose();
    }
}
