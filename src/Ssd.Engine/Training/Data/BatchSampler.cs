namespace Ssd.Engine.Training.Data;

/// <summary>
/// The epoch-less sampler: an endless stream of image positions 0, 1, 2, ... where position p is image
/// order(p / N)[p % N] of epoch p / N (N images). Batch b holds positions b B .. b B + B - 1, so a batch that crosses
/// the end of an epoch takes the last images of one epoch and the first of the next: training never stops at an
/// epoch boundary. Without shuffling the order is the data set's list, so batch b holds images (b B + j) mod N
/// (issue 11's rule, with <c>--augment none --no-shuffle</c>); with shuffling each epoch's order is a permutation
/// drawn from <see cref="DrawStream"/> keyed by (seed, Shuffle, epoch): a pure function of the seed and the epoch.
/// </summary>
public sealed class BatchSampler
{
    private readonly object gate = new();
    private long cachedEpoch = -1;
    private int[] cachedOrder = [];

    /// <summary>The number of images in the data set.</summary>
    public int Count { get; }
    /// <summary>The images per batch.</summary>
    public int BatchSize { get; }
    /// <summary>Whether each epoch's order is a seeded permutation (else the data set's order).</summary>
    public bool Shuffle { get; }
    /// <summary>The seed of the permutations.</summary>
    public long Seed { get; }

    /// <summary>A sampler over <paramref name="count"/> images.</summary>
    /// <param name="count">The number of images, at least 1.</param>
    /// <param name="batchSize">The images per batch, at least 1.</param>
    /// <param name="shuffle">Whether to shuffle each epoch.</param>
    /// <param name="seed">The seed of the shuffles.</param>
    /// <exception cref="ArgumentException">The count or batch size is not positive.</exception>
    public BatchSampler(int count, int batchSize, bool shuffle, long seed)
    {
        if (count <= 0) throw new ArgumentException($"sampler: the data set has no images ({count})");
        if (batchSize <= 0) throw new ArgumentException($"sampler: batch size {batchSize} must be positive");
        Count = count;
        BatchSize = batchSize;
        Shuffle = shuffle;
        Seed = seed;
    }

    /// <summary>The order of the data set's images in <paramref name="epoch"/>.</summary>
    public int[] Order(long epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        if (!Shuffle) return Enumerable.Range(0, Count).ToArray();
        return new DrawStream(unchecked((ulong)Seed), DrawPurpose.Shuffle, 0, (ulong)epoch).Permutation(Count);
    }

    /// <summary>The epoch and image index at an absolute position of the stream.</summary>
    public (long Epoch, int Index) At(long position)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        long epoch = position / Count;
        int within = (int)(position % Count);
        if (!Shuffle) return (epoch, within);
        lock (gate)
        {
            if (cachedEpoch != epoch) { cachedOrder = Order(epoch); cachedEpoch = epoch; }
            return (epoch, cachedOrder[within]);
        }
    }

    /// <summary>The (epoch, index) of each image of batch <paramref name="batch"/>.</summary>
    public (long Epoch, int Index)[] Batch(long batch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        var items = new (long, int)[BatchSize];
        for (int j = 0; j < BatchSize; j++) items[j] = At(checked(batch * BatchSize + j));
        return items;
    }
}
