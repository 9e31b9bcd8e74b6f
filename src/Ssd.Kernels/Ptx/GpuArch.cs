using ILGPU.Runtime.Cuda;

namespace Ssd.Kernels.Ptx;

/// <summary>
/// A GPU architecture that the kernels are checked for, and the PTX target ILGPU compiles for it.
/// </summary>
/// <remarks>
/// ILGPU 1.5.3 writes at most `.target sm_80` (and ptxas 11.8 reads at most `.version 7.8`). PTX is forward
/// compatible: ptxas assembles PTX written for sm_80 into machine code for any later GPU, so sm_90 (H100) is
/// checked by assembling the sm_80 PTX with `ptxas -arch=sm_90`, which is exactly what the CUDA driver's JIT does
/// when ILGPU loads that PTX on an H100.
/// </remarks>
internal sealed record GpuArch(string Name, CudaArchitecture PtxTarget)
{
    public static readonly GpuArch Sm75 = new("sm_75", CudaArchitecture.SM_75);
    public static readonly GpuArch Sm80 = new("sm_80", CudaArchitecture.SM_80);
    public static readonly GpuArch Sm90 = new("sm_90", CudaArchitecture.SM_80);

    /// <summary>Every architecture the PTX check covers: Turing, Ampere, Hopper.</summary>
    public static IReadOnlyList<GpuArch> All { get; } = [Sm75, Sm80, Sm90];

    /// <summary>The PTX ISA every kernel is written in (the newest that ptxas 11.8 accepts).</summary>
    public static CudaInstructionSet InstructionSet => CudaInstructionSet.ISA_78;

    /// <summary>10*major + minor: 75, 80, 90.</summary>
    public int Sm => int.Parse(Name.AsSpan(3), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The PTX `.target` name, e.g. "sm_80" for sm_90.</summary>
    public string PtxTargetName => $"sm_{PtxTarget.Major}{PtxTarget.Minor}";

    public static GpuArch Parse(string name) =>
        All.FirstOrDefault(a => a.Name == name.Trim().ToLowerInvariant())
        ?? throw new ArgumentException($"unknown GPU architecture '{name}': expected one of {string.Join(", ", All.Select(a => a.Name))}");

    public override string ToString() => Name;
}
