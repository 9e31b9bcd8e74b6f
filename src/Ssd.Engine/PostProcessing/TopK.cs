using System.Numerics;
using Ssd.Kernels.Sort;

namespace Ssd.Engine.PostProcessing;

/// <summary>A scored item: its score and a tie-break key (a prior index or a position in a list).</summary>
internal readonly record struct Ranked(float Score, int Key);

/// <summary>
/// The one top-k selector, for a class's candidates and for the merge over classes: the best k of m items
/// (score[j], key[j]), keys ascending with j, every score above a floor (the confidence threshold). Best first is
/// score descending, equal scores the lower key first or the higher: the result is the first k of a sort by that
/// order, found without a heap or a full sort.
/// 1. The items are binned by their sort key (<see cref="FloatSortKey.OfScore"/>: monotone in the score, equal
///    scores in one bucket) into 1024 buckets between the floor and the maximum; from the histogram the bucket
///    holding the k-th best is found: items above it are in, and that bucket's best fill the rest.
/// 2. Keys are 64 bits, score key inverted, then position (inverted for higher first): a sort by key is the order
///    above, ties at the k-th best score included. Only the k chosen are sorted.
/// </summary>
internal static class TopK
{
    private const int Buckets = 1024;

    /// <summary>The best min(k, m) into output (k &lt;= 0: all m); returns how many. <paramref name="sortKeys"/> needs room for m.</summary>
    public static int Select(ReadOnlySpan<float> score, ReadOnlySpan<int> key, float floor, int k, bool higherKeyFirst, ulong[] sortKeys, Span<Ranked> output)
    {
        int m = score.Length;
        if (m == 0) return 0;
        if (k <= 0 || k > m) k = m;
        int count = 0;
        if (k == m)
            for (int j = 0; j < m; j++) sortKeys[count++] = SortKey(score[j], j, higherKeyFirst);
        else
        {
            Span<int> histogram = stackalloc int[Buckets];
            var (lo, shift) = Histogram(score, floor, histogram);
            int bucket = Buckets - 1, above = 0;
            for (; above + histogram[bucket] < k; bucket--) above += histogram[bucket];
            // Items above the bucket are in; the bucket's keys are set aside at the end, and its best fill the rest.
            int b = m;
            for (int j = 0; j < m; j++)
            {
                int at = (int)((FloatSortKey.OfScore(score[j]) - lo) >> shift);
                if (at > bucket) sortKeys[count++] = SortKey(score[j], j, higherKeyFirst);
                else if (at == bucket) sortKeys[--b] = SortKey(score[j], j, higherKeyFirst);
            }
            var bucketKeys = sortKeys.AsSpan(b, m - b);
            bucketKeys.Sort();
            bucketKeys[..(k - count)].CopyTo(sortKeys.AsSpan(count));
            count = k;
        }
        var sorted = sortKeys.AsSpan(0, count);
        sorted.Sort();
        for (int r = 0; r < count; r++)
        {
            int j = (int)(uint)sorted[r];
            if (higherKeyFirst) j = ~j;
            output[r] = new Ranked(score[j], key[j]);
        }
        return count;
    }

    /// <summary>
    /// The scores above the floor binned by their sort key into the buckets between the floor and the maximum;
    /// returns the floor's key and the right shift that maps a key onto its bucket.
    /// </summary>
    private static (uint Lo, int Shift) Histogram(ReadOnlySpan<float> row, float floor, Span<int> histogram)
    {
        uint lo = FloatSortKey.OfScore(floor), range = FloatSortKey.OfScore(Max(row)) - lo;
        int shift = 0;
        while ((range >> shift) >= Buckets) shift++;
        histogram.Clear();
        foreach (float s in row)
            if (s > floor) histogram[(int)((FloatSortKey.OfScore(s) - lo) >> shift)]++;
        return (lo, shift);
    }

    /// <summary>Ascending = best first: the score's key inverted, then the position (inverted for higher first).</summary>
    private static ulong SortKey(float score, int position, bool higherFirst) =>
        ((ulong)~FloatSortKey.OfScore(score) << 32) | (higherFirst ? (uint)~position : (uint)position);

    /// <summary>The largest value (the scores are above the floor: none is NaN).</summary>
    private static float Max(ReadOnlySpan<float> row)
    {
        int i = 0, w = Vector<float>.Count;
        var acc = new Vector<float>(float.NegativeInfinity);
        for (; i + w <= row.Length; i += w) acc = Vector.Max(acc, new Vector<float>(row.Slice(i)));
        float max = float.NegativeInfinity;
        for (int j = 0; j < w; j++) if (acc[j] > max) max = acc[j];
        for (; i < row.Length; i++) if (row[i] > max) max = row[i];
        return max;
    }
}
