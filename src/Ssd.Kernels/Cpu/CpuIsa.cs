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

public static class CpuIsaSupport
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

    /// <summary>
    /// The machine as bench results name it: lscpu's model name and CPU family (from /proc/cpuinfo on Linux), the
    /// core count and the widest ISA, e.g. "AMD EPYC (CPU family 25), 2 cores, Avx2". Elsewhere the family is omitted.
    /// </summary>
    public static string Machine()
    {
        string? model = null, family = null;
        try
        {
            foreach (string line in File.ReadLines("/proc/cpuinfo"))
            {
                int colon = line.IndexOf(':');
                if (colon < 0) continue;
                string key = line[..colon].Trim(), value = line[(colon + 1)..].Trim();
                if (key == "model name") model ??= value;
                else if (key == "cpu family") family ??= value;
                if (model is not null && family is not null) break;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        string name = model ?? System.Runtime.InteropServices.RuntimeInformation.OSArchitecture.ToString();
        if (family is not null) name += $" (CPU family {family})";
        return $"{name}, {Environment.ProcessorCount} cores, {Best}";
    }

    /// <summary>Returns <paramref name="isa"/> when this CPU can run it, else throws naming the missing level.</summary>
    public static CpuIsa Require(CpuIsa isa) => IsSupported(isa)
        ? isa
        : throw new PlatformNotSupportedException($"cpu conv: ISA level {isa} was forced but this CPU does not support it");
}
