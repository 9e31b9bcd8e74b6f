using System.Numerics;
using ILGPU;
using Ssd.Kernels.Sort;

namespace Ssd.Kernels.Detect;

/// <summary>
/// 64-bit sort keys of the detection output: a high part (segment or image), the score DESCENDING (32 bits,
/// order-preserving float bits), and an item of <c>bits</c> bits. Ascending order is: high part, best score first,
/// then lower item first. The flavour's tie order is encoded in the item (ssd.pytorch stores P-1-prior, so equal
/// scores take the higher prior first). A key whose score part is all ones is "no candidate" and sorts last in its
/// part; no real score maps there (it would be a negative NaN, which never passes a threshold).
/// </summary>
internal static class DetectKey
{
    /// <summary>Floats per reported detection: class, score, x1, y1, x2, y2.</summary>
    public const int DetectionFloats = 6;

    public const uint Excluded = 0xFFFF_FFFFu;

    /// <summary>The key of a candidate (-0 and +0 one score, as the host comparisons see them).</summary>
    public static ulong Make(int high, float score, int item, int bits) =>
        ((ulong)(uint)high << (32 + bits)) | ((ulong)~FloatSortKey.OfScore(score) << bits) | (uint)item;

    /// <summary>The key of a non-candidate: after every candidate of its high part.</summary>
    public static ulong MakeExcluded(int high, int item, int bits) =>
        ((ulong)(uint)high << (32 + bits)) | ((ulong)Excluded << bits) | (uint)item;

    public static bool IsCandidate(ulong key, int bits) => (uint)(key >> bits) != Excluded;

    public static float Score(ulong key, int bits) => FloatSortKey.FromAscending(~(uint)(key >> bits));

    public static int Item(ulong key, int bits) => (int)(key & ((1UL << bits) - 1));

    /// <summary>Bits needed to hold 0..count-1 (at least 1).</summary>
    public static int BitsFor(int count) => Math.Max(1, 32 - BitOperations.LeadingZeroCount((uint)Math.Max(count, 1) - 1));
}
