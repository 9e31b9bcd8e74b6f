namespace Ssd.Engine.Detection;

/// <summary>Where the network runs: an ILGPU accelerator or the managed CPU path; auto: CUDA when a GPU is present, else the managed CPU backend (<see cref="BackendFactory"/>).</summary>
public enum DetectorBackend
{
    /// <summary>CUDA when a GPU is present, else the managed CPU backend.</summary>
    Auto,
    /// <summary>An NVIDIA GPU through ILGPU's CUDA accelerator (PTX kernels).</summary>
    Cuda,
    /// <summary>An OpenCL device through ILGPU (a GPU, or PoCL on the CPU).</summary>
    OpenCL,
    /// <summary>ILGPU's CPU simulator: every kernel, slowly (for tests on small inputs).</summary>
    CpuSim,
    /// <summary>The managed SIMD CPU backend (AVX2 / AVX-512 where the CPU has them, multithreaded).</summary>
    Cpu,
}

/// <summary>The backends' names on the command line and in configuration (auto, cuda, opencl, cpu-sim, cpu).</summary>
public static class DetectorBackendNames
{
    /// <summary>The backend a name means (case-insensitive; also cl, cpusim, sim); an unknown name is an <see cref="ArgumentException"/> listing the valid ones.</summary>
    public static DetectorBackend Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "auto" => DetectorBackend.Auto,
        "cuda" => DetectorBackend.Cuda,
        "opencl" or "cl" => DetectorBackend.OpenCL,
        "cpu-sim" or "cpusim" or "sim" => DetectorBackend.CpuSim,
        "cpu" => DetectorBackend.Cpu,
        _ => throw new ArgumentException($"unknown backend '{name}': expected auto, cuda, opencl, cpu-sim or cpu"),
    };

    /// <summary>The name <see cref="Parse"/> reads back (auto, cuda, opencl, cpu-sim, cpu).</summary>
    public static string Name(DetectorBackend backend) => backend switch
    {
        DetectorBackend.Auto => "auto",
        DetectorBackend.Cuda => "cuda",
        DetectorBackend.OpenCL => "opencl",
        DetectorBackend.CpuSim => "cpu-sim",
        DetectorBackend.Cpu => "cpu",
        _ => backend.ToString(),
    };
}
