namespace Ssd.Engine.Training.Loss;

/// <summary>
/// Hard negative mining's selection: the k candidates of the highest mining score, in O(P) by a radix selection
/// on the scores' bits (four 8-bit histogram passes), not a sort.
/// Tie rule (declared; the references' sorts are not stable): of equal scores the lower prior index ranks first.
/// -0 equals +0; NaN ranks above +infinity.
/// </summary>
internal static class HardNegatives
{
    /// <summary>
    /// Marks (sets to 1) in <paramref name="selected"/> the <paramref name="k"/> highest-scoring priors among
    /// <paramref name="candidates"/> (prior indices, ascending). All of them when k &gt;= their count.
    /// </summary>
    public static void SelectTop(ReadOnlySpan<float> scores, ReadOnlySpan<int> candidates, int k, Span<byte> selected)
    {
        if (k <= 0 || candidates.Length == 0) return;
        if (k >= candidates.Length)
        {
            foreach (int c in candidates) selected[c] = 1;
            return;
        }
        // The k-th largest key, one byte at a time from the top: `prefix` holds its bytes found so far.
        Span<int> histogram = stackalloc int[256];
        uint prefix = 0, mask = 0;
        int need = k;
        for (int shift = 24; shift >= 0; shift -= 8)
        {
            histogram.Clear();
            foreach (int c in candidates)
            {
                uint key = Key(scores[c]);
                if ((key & mask) == prefix) histogram[(int)((key >> shift) & 0xFF)]++;
            }
            int digit = 255;
            for (; digit > 0 && need > histogram[digit]; digit--) need -= histogram[digit];
            prefix |= (uint)digit << shift;
            mask |= 0xFFu << shift;
        }
        // Every key above the k-th, then the first `need` (lowest indices) equal to it.
        foreach (int c in candidates)
        {
            uint key = Key(scores[c]);
            if (key > prefix) selected[c] = 1;
            else if (key == prefix && need > 0) { selected[c] = 1; need--; }
        }
    }

    /// <summary>An unsigned key that orders as the floats do (-0 as +0, every NaN above +infinity).</summary>
    public static uint Key(float score)
    {
        uint bits = float.IsNaN(score) ? 0x7FC0_0000u : BitConverter.SingleToUInt32Bits(score == 0f ? 0f : score);
        return (bits & 0x8000_0000u) != 0 ? ~bits : bits | 0x8000_0000u;
    }
}
