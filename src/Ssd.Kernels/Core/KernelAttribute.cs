namespace Ssd.Kernels.Core;

/// <summary>
/// Marks a static method as an ILGPU kernel entry point, so that the catalog (and `ssd ptx`) can find it.
/// </summary>
/// <remarks>
/// Implicitly grouped kernels (first parameter Index1D/2D/3D, launched with LoadAutoGroupedStreamKernel)
/// leave <see cref="GroupSize"/> at 0. Explicitly grouped kernels (using Group/SharedMemory, launched with a
/// KernelConfig) set <see cref="GroupSize"/> to the threads per group they are always launched with; the PTX
/// check compiles them with that specialisation. The kernel's name in reports is Family.Method.
/// </remarks>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
internal sealed class KernelAttribute(string family) : Attribute
{
    /// <summary>Op family, e.g. "conv2d", "pooling", "detect".</summary>
    public string Family { get; } = family;

    /// <summary>Threads per group for explicitly grouped kernels; 0 for implicitly grouped ones.</summary>
    public int GroupSize { get; init; }

    /// <summary>The oldest NVIDIA architecture the kernel runs on, as 10*major + minor (80 for sm_80: TF32 mma);
    /// 0 for every one. The PTX check skips older architectures.</summary>
    public int MinSm { get; init; }
}
