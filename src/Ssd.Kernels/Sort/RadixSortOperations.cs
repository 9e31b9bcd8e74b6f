using ILGPU.Algorithms.RadixSortOperations;

namespace Ssd.Kernels.Sort;

// ILGPU.Algorithms 1.5.3's own AscendingFloat/DescendingFloat give wrong orders (they do not handle the sign
// bit), so Ssd sorts floats through FloatSortKey. ILGPU reads NumBits from default(T), so every property here is a
// constant. The radix sort is LSD with a stable scatter: equal keys keep their input order.

/// <summary>Sorts float keys ascending in FloatSortKey's total order (-0 before +0; NaN at the ends).</summary>
public readonly struct AscendingFloatKey : IRadixSortOperation<float>
{
    public int NumBits => 32;
    public float DefaultValue => float.PositiveInfinity;
    public int ExtractRadixBits(float value, int shift, int bitMask) =>
        (int)((FloatSortKey.Ascending(value) >> shift) & (uint)bitMask);
}

/// <summary>Sorts float keys descending (+0 before -0); ties keep input order.</summary>
public readonly struct DescendingFloatKey : IRadixSortOperation<float>
{
    public int NumBits => 32;
    public float DefaultValue => float.NegativeInfinity;
    public int ExtractRadixBits(float value, int shift, int bitMask) =>
        (int)((FloatSortKey.Descending(value) >> shift) & (uint)bitMask);
}

/// <summary>
/// Sorts 48-bit composite keys ascending: (segment &lt;&lt; 32) | score key, see <see cref="SegmentedKey"/>.
/// One sort then orders many independent segments (e.g. every (image, class) pair of NMS) at once.
/// </summary>
public readonly struct SegmentedKeyAscending : IRadixSortOperation<ulong>
{
    public int NumBits => SegmentedKey.Bits;
    public ulong DefaultValue => ulong.MaxValue;
    public int ExtractRadixBits(ulong value, int shift, int bitMask) =>
        (int)((value >> shift) & (uint)bitMask);
}

/// <summary>Builds and reads composite (segment, descending float) sort keys.</summary>
public static class SegmentedKey
{
    /// <summary>Bits sorted: 32 for the score plus 16 for the segment.</summary>
    public const int Bits = 48;

    /// <summary>Segments per sort are limited to this count (16 bits).</summary>
    public const int MaxSegments = 1 << 16;

    /// <summary>Key that sorts by segment ascending, then by score descending.</summary>
    public static ulong Descending(int segment, float score) =>
        ((ulong)(uint)segment << 32) | FloatSortKey.Descending(score);

    public static int Segment(ulong key) => (int)(key >> 32);

    public static float Score(ulong key) => FloatSortKey.FromAscending(~(uint)key);
}
