using Ssd.Kernels.Core;

namespace Ssd.Kernels.Ptx;

/// <summary>One kernel assembled by ptxas for one architecture.</summary>
public sealed record PtxCheckRow(KernelEntry Kernel, GpuArch Arch, PtxasResult Result);

/// <summary>Compiles kernels to PTX and assembles each with ptxas, for every requested architecture.</summary>
public static class PtxCheck
{
    /// <summary>
    /// Rows in kernel order, then architecture order. Each PTX target is compiled once per kernel (sm_90 reuses
    /// the sm_80 PTX); ptxas runs in parallel since each run is a separate process.
    /// </summary>
    public static IReadOnlyList<PtxCheckRow> Run(PtxCompiler compiler, Ptxas ptxas, IEnumerable<KernelEntry> kernels, IEnumerable<GpuArch> archs)
    {
        var jobs = (from k in kernels from a in archs select (Kernel: k, Arch: a)).ToList();
        var ptx = jobs.Select(j => (j.Kernel, j.Arch.PtxTarget)).Distinct()
            .ToDictionary(key => key, key => compiler.Compile(key.Kernel, jobs.First(j => j.Kernel == key.Kernel && j.Arch.PtxTarget == key.PtxTarget).Arch).Assembly);
        return jobs.AsParallel().AsOrdered()
            .Select(j => new PtxCheckRow(j.Kernel, j.Arch, ptxas.Assemble(ptx[(j.Kernel, j.Arch.PtxTarget)], j.Arch)))
            .ToList();
    }
}
