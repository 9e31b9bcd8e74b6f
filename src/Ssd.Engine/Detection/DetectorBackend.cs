namespace Ssd.Engine.Detection;

/// <summary>Where the network runs: an ILGPU accelerator or the managed CPU path; auto: CUDA when a GPU is present, else the managed CPU backend (<see cref="BackendFactory"/>).</summary>
public enum DetectorBackend { Auto, Cuda, OpenCL, CpuSim, Cpu }

public static class DetectorBackendNames
{
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
