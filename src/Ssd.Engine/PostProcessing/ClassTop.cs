using System.Numerics;

namespace Ssd.Engine.PostProcessing;

/// <summary>
/// One class's top k, for the dense case where thousands of priors pass the threshold and top_k keeps a few hundred.
/// Over the class's candidates (prior order, all above the threshold):
/// 1. their maximum (vectorised);
/// 2. a cheap bound: a histogram of every 8th score suggests a value b with about 1.5 k scores at or above it; a
///    vectorised count checks that at least k really are (else b is dropped), so the k best, and every score tied
///    with the k-th best, are among those &gt;= b, which are kept in order and the rest dropped;
/// 3. the remaining candidates are binned by their score's order bits into 1024 buckets (a monotone function of the
///    score; equal scores, -0 and +0 included, share a bucket), and from the histogram the bucket holding the k-th
///    best is found: candidates above it are in, that bucket's are sorted to find the k-th best score t exactly, and
///    ties at t are taken in the tie order.
/// The chosen items are sorted as 64-bit keys (score descending, then prior ascending or descending), so the result
/// is the k best under <see cref="RankOrder"/>, best first: the first k of a sort by that order.
/// </summary>
internal static class ClassTop
{
    private const int Buckets = 1024, SampleStep = 8;

    /// <summary>
    /// The best min(k, m) of the m candidates in the worker's lists (prior order, all &gt; threshold) into output
    /// (k &lt;= 0: all of them); returns how many.
    /// </summary>
    public static int Select(int m, float threshold, int k, bool lowerKeyFirst, DenseWorkspace.Worker w, Span<Ranked> output)
    {
        if (m == 0) return 0;
        var scores = w.Score.AsSpan(0, m);
        float max = Max(scores);
        if (k > 0 && m >= 2 * SampleStep * k)
        {
            float b = SampledBound(scores, threshold, max, k);
            if (b > threshold && CountAtLeast(scores, b) >= k) m = KeepAtLeast(m, b, w.Prior, w.Score);
        }
        return Top(m, threshold, max, k, lowerKeyFirst, w, output);
    }

    /// <summary>The exact top k of the m candidates (all &gt; threshold, at most max), as the class summary says.</summary>
    private static int Top(int m, float threshold, float max, int k, bool lowerKeyFirst, DenseWorkspace.Worker w, Span<Ranked> output)
    {
        var prior = w.Prior;
        var score = w.Score;
        if (k <= 0 || k > m) k = m;
        var keys = w.SortKeys;
        int count = 0;
        if (k == m)
            for (int j = 0; j < m; j++) keys[count++] = SortKey(score[j], j, lowerKeyFirst);
        else
        {
            uint lo = Ordered(threshold);
            int shift = Shift(Ordered(max) - lo);
            Span<int> histogram = stackalloc int[Buckets];
            histogram.Clear();
            for (int j = 0; j < m; j++) histogram[(int)((Ordered(score[j]) - lo) >> shift)]++;
            int bucket = Buckets - 1, above = 0;
            for (; above + histogram[bucket] < k; bucket--) above += histogram[bucket];
            // Candidates above the bucket are in; the bucket's are set aside (positions in the candidate list).
            var inBucket = w.Ties;
            int b = 0;
            for (int j = 0; j < m; j++)
            {
                int at = (int)((Ordered(score[j]) - lo) >> shift);
                if (at > bucket) keys[count++] = SortKey(score[j], j, lowerKeyFirst);
                else if (at == bucket) inBucket[b++] = j;
            }
            // The k-th best score: the (k - above)-th best of the bucket.
            Span<float> values = b <= 1024 ? stackalloc float[b] : new float[b];
            for (int j = 0; j < b; j++) values[j] = score[inBucket[j]];
            values.Sort();
            float t = values[b - (k - above)];
            int ties = 0;
            for (int j = 0; j < b; j++)
            {
                float s = score[inBucket[j]];
                if (s > t) keys[count++] = SortKey(s, inBucket[j], lowerKeyFirst);
                else if (s == t) inBucket[ties++] = inBucket[j];
            }
            // Ties at t fill the rest: the lowest priors first, or the highest.
            int need = k - count;
            var taken = lowerKeyFirst ? inBucket.AsSpan(0, need) : inBucket.AsSpan(ties - need, need);
            foreach (int j in taken) keys[count++] = SortKey(score[j], j, lowerKeyFirst);
        }
        var sorted = keys.AsSpan(0, count);
        sorted.Sort();
        for (int r = 0; r < count; r++)
        {
            int j = (int)(uint)sorted[r];
            if (!lowerKeyFirst) j = ~j;
            output[r] = new Ranked(score[j], prior[j]);
        }
        return count;
    }

    /// <summary>
    /// From every 8th score above the threshold: the lower edge of the bucket where the sampled count from the top
    /// first reaches 1.5 k / 8 (+ 4). Only a guess; the caller checks it.
    /// </summary>
    private static float SampledBound(ReadOnlySpan<float> row, float threshold, float max, int k)
    {
        uint lo = Ordered(threshold);
        int shift = Shift(Ordered(max) - lo);
        Span<int> histogram = stackalloc int[Buckets];
        histogram.Clear();
        for (int i = 0; i < row.Length; i += SampleStep)
            if (row[i] > threshold) histogram[(int)((Ordered(row[i]) - lo) >> shift)]++;
        int want = 3 * k / (2 * SampleStep) + 4, bucket = Buckets - 1, above = histogram[bucket];
        while (above < want && bucket > 0) above += histogram[--bucket];
        return FromOrdered(lo + ((uint)bucket << shift));
    }

    /// <summary>Keeps, in place and in order, the candidates scoring &gt;= bound: a vector test, lanes looked at only on a hit.</summary>
    private static int KeepAtLeast(int m, float bound, int[] prior, float[] score)
    {
        int n = 0, i = 0, w = Vector<float>.Count;
        var t = new Vector<float>(bound);
        for (; i + w <= m; i += w)
        {
            if (!Vector.GreaterThanOrEqualAny(new Vector<float>(score, i), t)) continue;
            for (int j = i; j < i + w; j++)
                if (score[j] >= bound) { prior[n] = prior[j]; score[n++] = score[j]; }
        }
        for (; i < m; i++)
            if (score[i] >= bound) { prior[n] = prior[i]; score[n++] = score[i]; }
        return n;
    }

    private static int CountAtLeast(ReadOnlySpan<float> row, float bound)
    {
        int i = 0, w = Vector<float>.Count;
        var t = new Vector<float>(bound);
        var counts = Vector<int>.Zero;
        for (; i + w <= row.Length; i += w) counts -= Vector.GreaterThanOrEqual(new Vector<float>(row.Slice(i)), t);
        int count = Vector.Sum(counts);
        for (; i < row.Length; i++) if (row[i] >= bound) count++;
        return count;
    }

    /// <summary>The right shift that maps an order-bit range onto the buckets.</summary>
    private static int Shift(uint range)
    {
        int shift = 0;
        while ((range >> shift) >= Buckets) shift++;
        return shift;
    }

    private static float FromOrdered(uint u) => BitConverter.UInt32BitsToSingle((u & 0x80000000u) != 0 ? u & 0x7FFFFFFFu : ~u);

    /// <summary>The float order as unsigned order; + 0f makes -0 and +0 one value, as comparisons see them.</summary>
    private static uint Ordered(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f + 0f);
        return (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
    }

    /// <summary>Ascending = best first: the score's order inverted, then the position (inverted for higher first).</summary>
    private static ulong SortKey(float score, int position, bool lowerFirst) =>
        ((ulong)~Ordered(score) << 32) | (lowerFirst ? (uint)position : (uint)~position);

    /// <summary>The largest non-NaN value (-inf if none): acc = v &gt; acc ? v : acc.</summary>
    private static float Max(ReadOnlySpan<float> row)
    {
        int i = 0, w = Vector<float>.Count;
        var acc = new Vector<float>(float.NegativeInfinity);
        for (; i + w <= row.Length; i += w)
        {
            var v = new Vector<float>(row.Slice(i));
            acc = Vector.ConditionalSelect(Vector.GreaterThan(v, acc), v, acc);
        }
        float max = float.NegativeInfinity;
        for (int j = 0; j < w; j++) if (acc[j] > max) max = acc[j];
        for (; i < row.Length; i++) if (row[i] > max) max = row[i];
        return max;
    }
}
