using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Conv;

/// <summary>
/// The register-blocked GEMM micro-kernel of one ISA level: computes an MR x NR tile of C = A*B (+bias, ReLU)
/// from an A panel packed [k][MR] and kc rows of NR floats of B, ldb apart.
/// </summary>
internal readonly unsafe struct MicroKernel
{
    /// <summary>Flag: add to the tile already in C instead of starting from the bias (every K block but the first).</summary>
    public const int Accumulate = 1;
    /// <summary>Flag: clamp at zero on the way out (the last K block of a conv with fused ReLU).</summary>
    public const int Relu = 2;

    public readonly int MR, NR;
    public readonly CpuIsa Isa;
    public readonly delegate*<int, float*, float*, nint, float*, nint, float*, int, void> Run;

    private MicroKernel(CpuIsa isa, int mr, int nr, delegate*<int, float*, float*, nint, float*, nint, float*, int, void> run)
    {
        Isa = isa; MR = mr; NR = nr; Run = run;
    }

    public static MicroKernel For(CpuIsa isa) => CpuIsaSupport.Require(isa) switch
    {
        CpuIsa.Avx512 => new(isa, MicroKernelAvx512.MR, MicroKernelAvx512.NR, &MicroKernelAvx512.Run),
        CpuIsa.Avx2 => new(isa, MicroKernelAvx2.MR, MicroKernelAvx2.NR, &MicroKernelAvx2.Run),
        _ => new(isa, MicroKernelPortable.MR, MicroKernelPortable.NR, &MicroKernelPortable.Run),
    };
}
