namespace Ssd.Kernels.Core;

/// <summary>Which ILGPU accelerator runs the kernels.</summary>
public enum BackendKind
{
    /// <summary>CUDA when a GPU is present, else OpenCL, else ILGPU's CPU simulator.</summary>
    Auto,
    /// <summary>NVIDIA GPU through CUDA (the product's main path).</summary>
    Cuda,
    /// <summary>OpenCL: a GPU, or PoCL on the CPU.</summary>
    OpenCL,
    /// <summary>ILGPU's CPU accelerator: a slow warp simulator, for kernel semantics on small shapes.</summary>
    CpuSim,
}

internal static class BackendKindNames
{
    public static BackendKind Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "auto" => BackendKind.Auto,
        "cuda" => BackendKind.Cuda,
        "opencl" or "cl" => BackendKind.OpenCL,
        "cpu-sim" or "cpusim" or "sim" => BackendKind.CpuSim,
        _ => throw new ArgumentException($"unknown ILGPU backend '{name}': expected auto, cuda, opencl or cpu-sim"),
    };
}
