using System.Runtime.Intrinsics.X86;

namespace Ssd.Kernels.Cpu;

/// <summary>The SIMD instruction set a CPU kernel is compiled against, widest last.</summary>
public enum CpuIsa
{
    /// <summary>System.Numerics.Vector&lt;float&gt; only: runs anywhere (ARM, old x86).</summary>
    Portable,
    /// <summary>256-bit AVX2 + FMA3.</summary>
    Avx2,
    /// <summary>512-bit AVX-512F.</summary>
    Avx512,
}

internal static class CpuIsaSupport
{
    /// <summary>The widest ISA this process can run.</summary>
    public static CpuIsa Best =>
        Avx512F.IsSupported ? CpuIsa.Avx512 :
        Avx2.IsSupported && Fma.IsSupported ? CpuIsa.Avx2 :
        CpuIsa.Portable;

    public static bool IsSupported(CpuIsa isa) => isa switch
    {
        CpuIsa.Avx512 => Avx512F.IsSupported,
        CpuIsa.Avx2 => Avx2.IsSupported && Fma.IsSupported,
        CpuIsa.Portable => true,
        _ => false,
    };

    /// <summary>Returns <paramref name="isa"/> when this CPU can run it, else throws naming the missing level.</summary>
    public static CpuIsa Require(CpuIsa isa) => IsSupported(isa)
        ? isa
        : throw new PlatformNotSupportedException($"cpu conv: ISA level {isa} was forced but this CPU does not support it");
}
