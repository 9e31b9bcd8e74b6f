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
    /// <param name="options">For ILGPU backends: TF32 convolutions, CUDA graph replay.</param>
    public static IBackend Create(DetectorBackend backend, DeviceOptions options = default) => backend switch
    {
        DetectorBackend.Cpu => new CpuBackend(),
        DetectorBackend.Cuda => new IlgpuBackend(ComputeDevice.Create(BackendKind.Cuda), ownsDevice: true, options),
        DetectorBackend.OpenCL => new IlgpuBackend(ComputeDevice.Create(BackendKind.OpenCL), ownsDevice: true, options),
        DetectorBackend.CpuSim => new IlgpuBackend(ComputeDevice.Create(BackendKind.CpuSim), ownsDevice: true, options),
        _ => ComputeDevice.TryCreateCuda() is { } cuda ? new IlgpuBackend(cuda, ownsDevice: true, options) : new CpuBackend(),
    };
}
