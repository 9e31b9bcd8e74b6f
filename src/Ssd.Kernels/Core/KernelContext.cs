using ILGPU;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace Ssd.Kernels.Core;

/// <summary>
/// The one definition of the ILGPU context every Ssd kernel is compiled in: by <see cref="ComputeDevice"/> for
/// running, and by the PTX compiler for checking, so that the checked PTX is the PTX a GPU would run.
/// </summary>
internal static class KernelContext
{
    private static long created;

    /// <summary>How many contexts this process has created (each one compiles its kernels again): one per detector is
    /// the design, and a test holds it to that.</summary>
    public static long Created => Interlocked.Read(ref created);

    /// <summary>
    /// Creates a context with the CUDA, OpenCL and CPU-simulator backends, ILGPU.Algorithms, IEEE math (no fast
    /// math) and optimisation level O2.
    /// </summary>
    /// <remarks>
    /// O2 is required: its address-space inference is what makes the generated OpenCL C acceptable to PoCL
    /// (see <see cref="PoclCompatibility"/>).
    /// </remarks>
    public static Context Create()
    {
        Interlocked.Increment(ref created);
        return Context.Create(b => b.Cuda().OpenCL(_ => true).CPU(CPUDeviceKind.Nvidia).EnableAlgorithms().Math(MathMode.Default).Optimize(OptimizationLevel.O2));
    }
}
