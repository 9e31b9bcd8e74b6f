using Ssd.Engine.Backends;
using Ssd.Engine.Backends.Cpu;
using Ssd.Kernels.Cpu;
using Ssd.Engine.Backends.Ilgpu;
using Ssd.Kernels.Core;

namespace Ssd.Engine.Detection;

/// <summary>Creates the execution backend a <see cref="DetectorBackend"/> names: one device (one ILGPU context) per call,
/// which a detector then shares between all its networks.</summary>
public static class BackendFactory
{
    /// <summary>
    /// Auto takes CUDA when a GPU is present and the managed CPU backend otherwise: on a CPU the managed SIMD code is
    /// far faster than ILGPU's OpenCL (PoCL) or simulator paths, which stay available by name.
    /// </summary>
    /// <param name="backend">Which backend.</param>
    /// <param name="options">For ILGPU backends: TF32 convolutions, CUDA graph replay.</param>
    /// <param name="deviceIndex">Cuda, OpenCL and Auto: which device of the kind (null: the first; Auto on a machine
    /// without CUDA still takes the CPU backend). An index the machine does not have throws
    /// <see cref="InvalidOperationException"/>; on the CPU backends an index is an <see cref="ArgumentException"/>.</param>
    /// <param name="cpuThreads">The CPU backend: the most threads one op runs on (null: every core).</param>
    public static IBackend Create(DetectorBackend backend, DeviceOptions options = default, int? deviceIndex = null, int? cpuThreads = null)
    {
        if (deviceIndex is < 0) throw new ArgumentException($"detector: GPU index {deviceIndex} must not be negative");
        if (cpuThreads is <= 0) throw new ArgumentException($"detector: CPU thread count {cpuThreads} must be positive");
        if (deviceIndex is not null && backend is DetectorBackend.Cpu or DetectorBackend.CpuSim)
            throw new ArgumentException($"detector: a GPU index ({deviceIndex}) applies to the cuda, opencl and auto backends, not {DetectorBackendNames.Name(backend)}");
        var cpu = new CpuOpOptions(Threads: cpuThreads);
        return backend switch
        {
            DetectorBackend.Cpu => new CpuBackend(cpu),
            DetectorBackend.Cuda => new IlgpuBackend(ComputeDevice.Create(BackendKind.Cuda, deviceIndex), ownsDevice: true, options),
            DetectorBackend.OpenCL => new IlgpuBackend(ComputeDevice.Create(BackendKind.OpenCL, deviceIndex), ownsDevice: true, options),
            DetectorBackend.CpuSim => new IlgpuBackend(ComputeDevice.Create(BackendKind.CpuSim), ownsDevice: true, options),
            _ when deviceIndex is not null => ComputeDevice.CudaDeviceCount() > 0
                ? new IlgpuBackend(ComputeDevice.Create(BackendKind.Cuda, deviceIndex), ownsDevice: true, options) : new CpuBackend(cpu),
            _ => ComputeDevice.TryCreateCuda() is { } cuda ? new IlgpuBackend(cuda, ownsDevice: true, options) : new CpuBackend(cpu),
        };
    }
}
