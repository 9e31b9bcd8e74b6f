using ILGPU;

namespace Ssd.Kernels.Core;

/// <summary>
/// MathF.Min / MathF.Max as .NET defines them (IEEE 754-2019 minimum / maximum: a NaN argument gives NaN, and
/// -0 &lt; +0), usable in kernels. The device's own min / max (OpenCL fmin / fmax) return the other argument for a
/// NaN, which would change boxes and IoUs where the host post-processors propagate the NaN.
/// </summary>
internal static class NetMath
{
    private static bool IsNegative(float x) => (Interop.FloatAsInt(x) & 0x8000_0000u) != 0;

    public static bool IsNaN(float x) => (Interop.FloatAsInt(x) & 0x7FFF_FFFFu) > 0x7F80_0000u;

    // NaN is tested by its bits before any float comparison: PoCL's build was seen not to keep the IEEE unordered
    // semantics of `x != y` / negated comparisons (it kept NaN boxes the host suppresses).
    public static float Min(float x, float y)
    {
        if (IsNaN(x)) return x;
        if (IsNaN(y)) return y;
        if (x < y) return x;
        if (y < x) return y;
        return IsNegative(x) ? x : y; // equal, or -0 and +0
    }

    public static float Max(float x, float y)
    {
        if (IsNaN(x)) return x;
        if (IsNaN(y)) return y;
        if (y < x) return x;
        if (x < y) return y;
        return IsNegative(y) ? x : y;
    }

    /// <summary>x &gt; y as IEEE defines it (false when either is NaN), with the NaN test on the bits.</summary>
    public static bool Greater(float x, float y) => !IsNaN(x) && !IsNaN(y) && x > y;
}
