namespace Ssd.Engine.Detection;

/// <summary>
/// A least-recently-used set of at most <see cref="Capacity"/> disposable entries (a detector's networks: each holds an
/// activation arena and its executors' packed or uploaded weights). Adding past the bound disposes the entry used
/// longest ago. Not thread-safe: each of a detector's sets of networks (DetectorLane) has its own, used by one call at a time.
/// </summary>
internal sealed class NetworkCache<TKey, TValue>(int capacity) : IDisposable where TKey : notnull where TValue : IDisposable
{
    // Entries are a class, not a value tuple, and a detector's key (NetworkKey) is a class too: the framework's
    // collections instantiated over a value type are JIT-compiled at every start (ReadyToRun cannot hold them).
    private sealed class Slot(TKey key, TValue value)
    {
        public TKey Key { get; } = key;
        public TValue Value { get; } = value;
    }

    private readonly LinkedList<Slot> order = new(); // most recent first
    private readonly Dictionary<TKey, LinkedListNode<Slot>> byKey = [];

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
        byKey[key] = order.AddFirst(new Slot(key, value));
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
        foreach (var slot in order) slot.Value.Dispose();
        order.Clear();
        byKey.Clear();
    }
}
