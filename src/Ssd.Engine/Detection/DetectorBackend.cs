namespace Ssd.Engine.Detection;

/// <summary>Where the network runs: an ILGPU accelerator (auto picks CUDA, then OpenCL, then the simulator) or the managed CPU path.</summary>
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
}
