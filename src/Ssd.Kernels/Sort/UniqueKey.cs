namespace Ssd.Kernels.Sort;

/// <summary>
/// 64-bit sort keys that are unique by construction: segment (16 bits), score descending (32 bits), item index
/// (16 bits). Sorting them ascending orders by segment, then score descending, then lower index first, so no
/// stable sort is needed for a deterministic tie order.
/// </summary>
public static class UniqueKey
{
    public const int MaxSegments = 1 << 16;
    public const int MaxItems = 1 << 16;

    public static ulong Make(int segment, float score, int item) =>
        ((ulong)(uint)segment << 48) | ((ulong)FloatSortKey.Descending(score) << 16) | (uint)item;

    public static int Segment(ulong key) => (int)(key >> 48);

    public static float Score(ulong key) => FloatSortKey.FromAscending(~(uint)(key >> 16));

    public static int Item(ulong key) => (int)(key & 0xFFFF);
}
