using Ssd.Kernels.Core;

namespace Ssd.Tests;

/// <summary>
/// Shared ILGPU devices for the tests, created once per test run (creating a context and loading kernels is slow).
/// CpuSim: ILGPU's CPU simulator, for small shapes. OpenCL: PoCL on CI, for GPU-style kernels at real sizes. CUDA: the
/// GPU, when the run asks for it.
/// <list type="bullet">
/// <item>SSD_REQUIRE_OPENCL=1 (CI sets it): a missing OpenCL device fails instead of skipping.</item>
/// <item>SSD_TEST_CUDA=1: every device test list (<see cref="DeviceNames"/>: the op matrix, the device-vs-host and
/// acceptance tests) gains a "cuda" target, skipped when there is no CUDA device. SSD_REQUIRE_CUDA=1 adds it too and
/// makes a missing GPU a failure (tools/gpu-check.sh sets both on a GPU machine).</item>
/// <item>SSD_TEST_SMALL=1: the op matrix runs only its small cases (tools/gpu-check.sh --dry-run on PoCL).</item>
/// </list>
/// </summary>
public static class TestDevices
{
    private static readonly Lazy<ComputeDevice> cpuSim = new(() => ComputeDevice.Create(BackendKind.CpuSim));
    private static readonly Lazy<ComputeDevice?> openCl = new(() => TryCreate(BackendKind.OpenCL));
    private static readonly Lazy<ComputeDevice?> cuda = new(() => TryCreate(BackendKind.Cuda));

    private static ComputeDevice? TryCreate(BackendKind kind)
    {
        try { return ComputeDevice.Create(kind); }
        catch (InvalidOperationException) { return null; }
    }

    private static bool Flag(string name) => Environment.GetEnvironmentVariable(name) == "1";

    /// <summary>CUDA is a test target in this run (SSD_TEST_CUDA=1 or SSD_REQUIRE_CUDA=1).</summary>
    public static bool CudaRequested => Flag("SSD_TEST_CUDA") || Flag("SSD_REQUIRE_CUDA");

    /// <summary>The op matrix keeps to its small cases (SSD_TEST_SMALL=1).</summary>
    public static bool SmallOnly => Flag("SSD_TEST_SMALL");

    public static ComputeDevice CpuSim => cpuSim.Value;

    /// <summary>The OpenCL device, or the test is ignored (failed when SSD_REQUIRE_OPENCL=1).</summary>
    public static ComputeDevice OpenCL => openCl.Value ?? Missing("SSD_REQUIRE_OPENCL", "no OpenCL device (install pocl-opencl-icd and ocl-icd-opencl-dev)");

    /// <summary>The CUDA device, or the test is ignored (failed when SSD_REQUIRE_CUDA=1).</summary>
    public static ComputeDevice Cuda => cuda.Value ?? Missing("SSD_REQUIRE_CUDA", "no CUDA device (an NVIDIA GPU and its driver, libcuda.so)");

    private static ComputeDevice Missing(string requireVariable, string why)
    {
        if (Flag(requireVariable)) Assert.Fail(why);
        Assert.Ignore(why);
        return null!;
    }

    public static ComputeDevice Get(BackendKind kind) => kind switch
    {
        BackendKind.CpuSim => CpuSim,
        BackendKind.OpenCL => OpenCL,
        BackendKind.Cuda => Cuda,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The backends every kernel test runs on: the CPU simulator and OpenCL, and CUDA when <see cref="CudaRequested"/>.</summary>
    public static BackendKind[] Backends => CudaRequested ? [BackendKind.CpuSim, BackendKind.OpenCL, BackendKind.Cuda] : [BackendKind.CpuSim, BackendKind.OpenCL];

    /// <summary>The devices the device-vs-host and acceptance tests run the detector on, by name: "opencl" always,
    /// "cuda" when <see cref="CudaRequested"/>.</summary>
    public static IReadOnlyList<string> DeviceNames => CudaRequested ? ["opencl", "cuda"] : ["opencl"];

    /// <summary>A device by test name: "cpusim", "opencl" or "cuda".</summary>
    public static ComputeDevice Device(string name) => name switch
    {
        "cpusim" => CpuSim,
        "opencl" => OpenCL,
        "cuda" => Cuda,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "a test device is cpusim, opencl or cuda"),
    };
}
