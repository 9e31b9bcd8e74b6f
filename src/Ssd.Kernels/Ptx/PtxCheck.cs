using Ssd.Kernels.Core;

namespace Ssd.Kernels.Ptx;

/// <summary>One kernel assembled by ptxas for one architecture.</summary>
internal sealed record PtxCheckRow(KernelEntry Kernel, GpuArch Arch, PtxasResult Result);

/// <summary>Compiles kernels to PTX and assembles each with ptxas, for every requested architecture.</summary>
internal static class PtxCheck
{
    /// <summary>
    /// Rows in kernel order, then architecture order. Each PTX target is compiled once per kernel (sm_90 reuses
    /// the sm_80 PTX); ptxas runs in parallel since each run is a separate process.
    /// </summary>
    public static IReadOnlyList<PtxCheckRow> Run(PtxCompiler compiler, Ptxas ptxas, IEnumerable<KernelEntry> kernels, IEnumerable<GpuArch> archs)
    {
        // A kernel that needs a newer architecture (KernelAttribute.MinSm) is not assembled for older ones.
        var jobs = (from k in kernels from a in archs where k.RunsOnSm(a.Sm) select (Kernel: k, Arch: a)).ToList();
        // One PTX per kernel and PTX target; compiling for any arch of that target gives the same text.
        var ptx = new Dictionary<(KernelEntry, ILGPU.Runtime.Cuda.CudaArchitecture), string>();
        foreach (var (kernel, arch) in jobs)
            if (!ptx.ContainsKey((kernel, arch.PtxTarget)))
                ptx[(kernel, arch.PtxTarget)] = compiler.Compile(kernel, arch).Assembly;
        return jobs.AsParallel().AsOrdered()
            .Select(j => new PtxCheckRow(j.Kernel, j.Arch, ptxas.Assemble(ptx[(j.Kernel, j.Arch.PtxTarget)], j.Arch)))
            .ToList();
    }
}
