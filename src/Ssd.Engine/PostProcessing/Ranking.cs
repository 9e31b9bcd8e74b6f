using System.Runtime.InteropServices;

namespace Ssd.Engine.PostProcessing;

/// <summary>A scored item: its score and a tie-break key (a prior index or a position in a list).</summary>
internal readonly record struct Ranked(float Score, int Key);

/// <summary>
/// Best-first ordering with a total order (score descending, then the key ascending or descending), so an
/// unstable sort gives what a stable one over the key order gives. The fast paths select with <see cref="TopSelect"/>
/// and <see cref="ClassTop"/>, which give the first k of a sort by this order.
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
}

/// <summary>
/// The best k of a candidate list under <see cref="RankOrder"/> without a heap or a full sort: the k-th best score
/// is found with a histogram of the scores (then exactly, among the few in its bucket), the items above it are
/// taken, the ties at it are taken in the tie order (the list is in ascending key order, so the lowest or highest
/// keys first), and only those k items are sorted, as 64-bit keys (score descending, then list position ascending
/// or descending). The result is the first k of a sort by RankOrder.
/// </summary>
internal static class TopSelect
{
    private const int Buckets = 1024;

    /// <summary>
    /// Writes the best min(k, n) of (score[i], key[i]) best first into output (k &lt;= 0: all n) and returns how many.
    /// Keys must ascend with i. Scores must not be NaN (candidates passed a "&gt; threshold" test).
    /// <paramref name="scratch"/> and <paramref name="ties"/> need room for n items.
    /// </summary>
    public static int Top(ReadOnlySpan<float> score, ReadOnlySpan<int> key, int k, bool lowerKeyFirst, Span<ulong> scratch, Span<int> ties, Span<Ranked> output)
    {
        int n = score.Length;
        if (k <= 0 || k > n) k = n;
        int count = 0;
        if (k == n)
            for (int i = 0; i < n; i++) scratch[count++] = SortKey(score[i], i, lowerKeyFirst);
        else
        {
            float t = KthBest(score, k, ties);
            int equal = 0;
            for (int i = 0; i < n; i++)
            {
                float s = score[i];
                if (s > t) scratch[count++] = SortKey(s, i, lowerKeyFirst);
                else if (s == t) ties[equal++] = i;
            }
            // The ties at t fill the rest: the first ones in list order, or the last ones.
            int need = k - count;
            var taken = lowerKeyFirst ? ties[..need] : ties.Slice(equal - need, need);
            foreach (int i in taken) scratch[count++] = SortKey(score[i], i, lowerKeyFirst);
        }
        var keys = scratch[..count];
        keys.Sort();
        for (int r = 0; r < count; r++)
        {
            int i = (int)(uint)keys[r];
            if (!lowerKeyFirst) i = ~i;
            output[r] = new Ranked(score[i], key[i]);
        }
        return count;
    }

    /// <summary>Ascending = best first: the score's order bits inverted, then the position (inverted for higher first).</summary>
    private static ulong SortKey(float score, int position, bool lowerFirst)
    {
        // + 0f turns -0 into +0: RankOrder sees them as equal scores.
        uint bits = BitConverter.SingleToUInt32Bits(score + 0f);
        uint ordered = (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
        return ((ulong)~ordered << 32) | (lowerFirst ? (uint)position : (uint)~position);
    }

    /// <summary>
    /// The k-th best score (1 &lt;= k &lt; n): scores binned by value into equal-width buckets between their min and
    /// max (the bucket is a monotone function of the score), the bucket holding the k-th best found from the top,
    /// and that bucket's scores sorted. <paramref name="spare"/> (room for n) holds them, as bits.
    /// </summary>
    private static float KthBest(ReadOnlySpan<float> score, int k, Span<int> spare)
    {
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (float s in score) { if (s < min) min = s; if (s > max) max = s; }
        if (min == max) return max;
        // In double, so that neither the span nor a score's offset overflows; infinite ends fall back to sorting all.
        double lo = min, scale = (Buckets - 1) / ((double)max - lo);
        bool binned = double.IsFinite(scale) && scale > 0 && double.IsFinite(lo);
        Span<int> histogram = stackalloc int[Buckets];
        int bucket = 0, above = 0;
        if (binned)
        {
            histogram.Clear();
            foreach (float s in score) histogram[Bin(s, lo, scale)]++;
            for (bucket = Buckets - 1; above + histogram[bucket] < k; bucket--) above += histogram[bucket];
        }
        int m = 0;
        foreach (float s in score)
            if (!binned || Bin(s, lo, scale) == bucket) spare[m++] = BitConverter.SingleToInt32Bits(s);
        var inBucket = MemoryMarshal.Cast<int, float>(spare[..m]);
        inBucket.Sort();
        // The (k - above)-th best of the bucket.
        return inBucket[m - (k - above)];
    }

    private static int Bin(float s, double lo, double scale) => Math.Min(Buckets - 1, (int)((s - lo) * scale));
}
