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
