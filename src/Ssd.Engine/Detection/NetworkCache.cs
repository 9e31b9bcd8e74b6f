namespace Ssd.Engine.Detection;

/// <summary>
/// A least-recently-used set of at most <see cref="Capacity"/> disposable entries (a detector's networks: each holds an
/// activation arena and its executors' packed or uploaded weights). Adding past the bound disposes the entry used
/// longest ago. Not thread-safe: each of a detector's sets of networks (DetectorLane) has its own, used by one call at a time.
/// </summary>
internal sealed class NetworkCache<TKey, TValue>(int capacity) : IDisposable where TKey : notnull where TValue : IDisposable
{
    private readonly LinkedList<(TKey Key, TValue Value)> order = new(); // most recent first
    private readonly Dictionary<TKey, LinkedListNode<(TKey Key, TValue Value)>> byKey = [];

    public int Capacity { get; } = capacity > 0 ? capacity : throw new ArgumentException($"detector: network cache bound {capacity} must be positive");
    public int Count => byKey.Count;
    public IEnumerable<TKey> Keys => order.Select(e => e.Key);

    /// <summary>The entry for <paramref name="key"/>, made by <paramref name="create"/> when absent (the least recently
    /// used entry is disposed first when the cache is full).</summary>
    public TValue Get(TKey key, Func<TKey, TValue> create)
    {
        if (byKey.TryGetValue(key, out var node))
        {
            order.Remove(node);
            order.AddFirst(node);
            return node.Value.Value;
        }
        while (byKey.Count >= Capacity) Remove(order.Last!.Value.Key);
        var value = create(key);
        byKey[key] = order.AddFirst((key, value));
        return value;
    }

    public bool TryPeek(TKey key, out TValue value)
    {
        if (byKey.TryGetValue(key, out var node)) { value = node.Value.Value; return true; }
        value = default!;
        return false;
    }

    public void Remove(TKey key)
    {
        if (!byKey.Remove(key, out var node)) return;
        order.Remove(node);
        node.Value.Value.Dispose();
    }

    /// <summary>Disposes every entry whose key matches.</summary>
    public void RemoveWhere(Func<TKey, bool> match)
    {
        foreach (var key in byKey.Keys.Where(match).ToList()) Remove(key);
    }

    public void Dispose()
    {
        foreach (var (_, value) in order) value.Dispose();
        order.Clear();
        byKey.Clear();
    }
}
