using ILGPU;

namespace Ssd.Kernels.Sort;

/// <summary>
/// The one float sort key: float bits mapped to unsigned integers whose unsigned order is the float order, so that
/// scores sort, bin and compare as integers (the host top-k selection, the device's 64-bit sort keys).
/// </summary>
/// <remarks>
/// Positive floats (sign bit 0) already order like their bits; setting the sign bit puts them above all negatives.
/// Negative floats order in reverse of their bits, so all bits are flipped. The result is a total order:
/// -NaN &lt; -inf &lt; ... &lt; -0 &lt; +0 &lt; ... &lt; +inf &lt; +NaN (so -0 sorts strictly before +0, unlike the
/// IEEE comparison, which calls them equal; <see cref="OfScore"/> merges them). Usable inside kernels.
/// </remarks>
internal static class FloatSortKey
{
    /// <summary>Order-preserving key: a &lt; b (in the total order above) iff Ascending(a) &lt; Ascending(b).</summary>
    public static uint Ascending(float value)
    {
        uint bits = Interop.FloatAsInt(value);
        return (bits & 0x8000_0000u) != 0 ? ~bits : bits | 0x8000_0000u;
    }

    /// <summary>A score's key as comparisons see it: -0 and +0 are one value (+0's key).</summary>
    public static uint OfScore(float score) => Ascending(score == 0f ? 0f : score);

    /// <summary>The float whose ascending key is <paramref name="key"/> (inverse of <see cref="Ascending"/>).</summary>
    public static float FromAscending(uint key) =>
        Interop.IntAsFloat((key & 0x8000_0000u) != 0 ? key & 0x7FFF_FFFFu : ~key);
}
