using ILGPU;

namespace Ssd.Kernels.Detect;

/// <summary>
/// MathF.Min / MathF.Max as .NET defines them (IEEE 754-2019 minimum / maximum: a NaN argument gives NaN, and
/// -0 &lt; +0), usable in kernels. The device's own min / max (OpenCL fmin / fmax) return the other argument for a
/// NaN, which would change boxes and IoUs where the host post-processors propagate the NaN.
/// </summary>
public static class NetMath
{
    private static bool IsNegative(float x) => (Interop.FloatAsInt(x) & 0x8000_0000u) != 0;

    public static bool IsNaN(float x) => (Interop.FloatAsInt(x) & 0x7FFF_FFFFu) > 0x7F80_0000u;

    public static float Min(float x, float y)
    {
        if (x != y) return IsNaN(x) ? x : x < y ? x : y;
        return IsNegative(x) ? x : y;
    }

    public static float Max(float x, float y)
    {
        if (x != y) return IsNaN(x) ? x : y < x ? x : y;
        return IsNegative(y) ? x : y;
    }
}
