using ILGPU;

namespace Ssd.Kernels.Preprocess;

/// <summary>
/// A correctly rounded float32 fused multiply-add for kernels, without an FMA instruction: ILGPU 1.5.3's OpenCL
/// backend emits MathF.FusedMultiplyAdd as an undeclared identifier, so it cannot be used on PoCL.
/// </summary>
/// <remarks>
/// a * b of two floats is exact in double. The double sum s = a*b + c is then corrected to round-to-odd with the
/// error-free TwoSum: an inexact s whose last bit is even moves one ulp towards the exact value. Rounding a
/// round-to-odd value with 29 spare bits to float gives the correctly rounded result (no double-rounding error).
/// </remarks>
internal static class ExactFma
{
    public static float Fma(float a, float b, float c)
    {
        double p = (double)a * b;
        double cd = c;
        double s = p + cd;
        double bv = s - p;
        double err = (p - (s - bv)) + (cd - bv);
        ulong bits = Interop.FloatAsInt(s);
        if (err != 0.0 && (bits & 1UL) == 0UL)
        {
            // Same sign as s: away from zero (magnitude +1 ulp); opposite: towards zero.
            bool sameSign = (err > 0.0) == (s > 0.0);
            bits = sameSign ? bits + 1UL : bits - 1UL;
            s = Interop.IntAsFloat(bits);
        }
        return (float)s;
    }
}
