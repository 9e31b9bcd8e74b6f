using ILGPU;

namespace Ssd.Kernels.Core;

/// <summary>
/// The float exp that .NET's MathF.Exp returns on Linux x64: glibc's expf (2.28 and later), whose result is NOT
/// always the correctly rounded one (about 6 in 10 000 arguments differ from (float)exp((double)x)), so a device
/// exp, or any other careful one, does not match it bit for bit. This is glibc's algorithm in the same double
/// arithmetic: x * 32 / ln 2 = k + r, exp(x) = 2^(k/32) (a 32-entry table scaled by 2^(k div 32)) times a cubic in
/// r, rounded to float once. Usable in kernels (double arithmetic, one switch for the table); the tests check it
/// against MathF.Exp over millions of arguments. (On Windows, MathF.Exp is the C runtime's, another algorithm; there
/// the device decode and softmax may differ from the host ones in the last bit.)
/// </summary>
internal static class LibmExp
{
    private const int TableBits = 5;

    public static float Expf(float x)
    {
        uint abstop = (Interop.FloatAsInt(x) >> 20) & 0x7FF;
        if (abstop >= 0x42B) // |x| >= 88 or NaN
        {
            if (Interop.FloatAsInt(x) == 0xFF80_0000u) return 0f;                 // -inf
            if (abstop >= 0x7F8) return x + x;                                   // +inf, NaN
            if (x > Interop.IntAsFloat(0x42B1_7217u)) return float.PositiveInfinity; // > log(0x1p128)
            if (x < Interop.IntAsFloat(0xC2CF_F1B4u)) return 0f;                     // < log(0x1p-150)
        }
        double xd = x;
        double z = Interop.IntAsFloat(0x4047_1547_652B_82FEUL) * xd;  // 32 / ln 2
        double shift = Interop.IntAsFloat(0x4338_0000_0000_0000UL);   // 0x1.8p52: rounds to an integer
        double kd = z + shift;
        ulong ki = Interop.FloatAsInt(kd);
        kd -= shift;
        double r = z - kd;
        ulong t = Table((int)(ki & ((1UL << TableBits) - 1)));
        t += ki << (52 - TableBits);
        double s = Interop.IntAsFloat(t);
        double c0 = Interop.IntAsFloat(0x3EBC_6AF8_4B91_2394UL), c1 = Interop.IntAsFloat(0x3F2E_BFCE_50FA_C4F3UL), c2 = Interop.IntAsFloat(0x3F96_2E42_FF0C_52D6UL);
        double p = c0 * r + c1;
        double r2 = r * r;
        double y = c2 * r + 1.0;
        y = p * r2 + y;
        y *= s;
        return (float)y;
    }

    /// <summary>The bits of 2^(i/32) minus i &lt;&lt; 47 (glibc's __exp2f_data.tab).</summary>
    private static ulong Table(int i) => i switch
    {
        0 => 0x3FF0000000000000UL, 1 => 0x3FEFD9B0D3158574UL, 2 => 0x3FEFB5586CF9890FUL, 3 => 0x3FEF9301D0125B51UL,
        4 => 0x3FEF72B83C7D517BUL, 5 => 0x3FEF54873168B9AAUL, 6 => 0x3FEF387A6E756238UL, 7 => 0x3FEF1E9DF51FDEE1UL,
        8 => 0x3FEF06FE0A31B715UL, 9 => 0x3FEEF1A7373AA9CBUL, 10 => 0x3FEEDEA64C123422UL, 11 => 0x3FEECE086061892DUL,
        12 => 0x3FEEBFDAD5362A27UL, 13 => 0x3FEEB42B569D4F82UL, 14 => 0x3FEEAB07DD485429UL, 15 => 0x3FEEA47EB03A5585UL,
        16 => 0x3FEEA09E667F3BCDUL, 17 => 0x3FEE9F75E8EC5F74UL, 18 => 0x3FEEA11473EB0187UL, 19 => 0x3FEEA589994CCE13UL,
        20 => 0x3FEEACE5422AA0DBUL, 21 => 0x3FEEB737B0CDC5E5UL, 22 => 0x3FEEC49182A3F090UL, 23 => 0x3FEED503B23E255DUL,
        24 => 0x3FEEE89F995AD3ADUL, 25 => 0x3FEEFF76F2FB5E47UL, 26 => 0x3FEF199BDD85529CUL, 27 => 0x3FEF3720DCEF9069UL,
        28 => 0x3FEF5818DCFBA487UL, 29 => 0x3FEF7C97337B9B5FUL, 30 => 0x3FEFA4AFA2A490DAUL, _ => 0x3FEFD0765B6E4540UL,
    };
}
