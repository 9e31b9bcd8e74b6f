namespace Ssd.Kernels.Sort;

/// <summary>
/// Plain C# reference: a stable sort of (key, value) pairs by float key, with -0 ordered just below +0
/// (the device order). NaN keys are not supported here.
/// </summary>
public static class SortReference
{
    /// <summary>Sorts in place; equal keys keep their input order (LINQ's OrderBy is stable).</summary>
    public static void SortPairs(Span<float> keys, Span<int> values, bool descending)
    {
        if (keys.Length != values.Length) throw new ArgumentException($"sort: {keys.Length} keys but {values.Length} values");
        var pairs = new (float Key, int Value)[keys.Length];
        for (int i = 0; i < keys.Length; i++) pairs[i] = (keys[i], values[i]);
        var comparer = Comparer<float>.Create(Compare);
        var sorted = descending
            ? pairs.OrderByDescending(p => p.Key, comparer).ToArray()
            : pairs.OrderBy(p => p.Key, comparer).ToArray();
        for (int i = 0; i < sorted.Length; i++) (keys[i], values[i]) = sorted[i];
    }

    private static int Compare(float a, float b)
    {
        if (a < b) return -1;
        if (a > b) return 1;
        // a == b: only the zeros can still differ, by sign.
        return (float.IsNegative(b) ? 1 : 0) - (float.IsNegative(a) ? 1 : 0);
    }
}
