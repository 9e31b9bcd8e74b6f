namespace Ssd.Engine.PostProcessing;

/// <summary>A scored item: its score and a tie-break key (a prior index or a position in a list).</summary>
internal readonly record struct Ranked(float Score, int Key);

/// <summary>
/// Best-first ordering with a total order (score descending, then the key ascending or descending), so an
/// unstable sort gives what a stable one over the key order gives. Top-k keeps a k-item heap instead of sorting all.
/// </summary>
internal readonly struct RankOrder(bool lowerKeyFirst) : IComparer<Ranked>
{
    /// <summary>Negative when a ranks before b.</summary>
    public int Compare(Ranked a, Ranked b)
    {
        if (a.Score > b.Score) return -1;
        if (a.Score < b.Score) return 1;
        if (a.Key == b.Key) return 0;
        return (a.Key < b.Key) == lowerKeyFirst ? -1 : 1;
    }

    /// <summary>Sorts items best first and returns how many of them to keep (at most k; k &lt;= 0 keeps all).</summary>
    public int Top(Span<Ranked> items, int k)
    {
        if (k <= 0 || items.Length <= k)
        {
            items.Sort(this);
            return items.Length;
        }
        // Min-heap of the k best (the worst of them at the root), then the heap sorted best first.
        var heap = items[..k];
        for (int i = k / 2 - 1; i >= 0; i--) SiftDown(heap, i);
        for (int i = k; i < items.Length; i++)
            if (Compare(items[i], heap[0]) < 0)
            {
                heap[0] = items[i];
                SiftDown(heap, 0);
            }
        heap.Sort(this);
        return k;
    }

    private void SiftDown(Span<Ranked> heap, int i)
    {
        int n = heap.Length;
        var item = heap[i];
        while (true)
        {
            int child = 2 * i + 1;
            if (child >= n) break;
            // The worse child (ranks later) goes up.
            if (child + 1 < n && Compare(heap[child + 1], heap[child]) > 0) child++;
            if (Compare(heap[child], item) <= 0) break;
            heap[i] = heap[child];
            i = child;
        }
        heap[i] = item;
    }
}
