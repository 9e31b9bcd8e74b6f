using Ssd.Kernels.Core;

namespace Ssd.Tests;

/// <summary>
/// Shared ILGPU devices for the tests, created once per test run (creating a context and loading kernels is slow).
/// CpuSim: ILGPU's CPU simulator, for small shapes. OpenCL: PoCL on CI, for GPU-style kernels at real sizes.
/// Set SSD_REQUIRE_OPENCL=1 (CI does) to make a missing OpenCL device a failure instead of a skip.
/// </summary>
public static class TestDevices
{
    private static readonly Lazy<ComputeDevice> cpuSim = new(() => ComputeDevice.Create(BackendKind.CpuSim));
    private static readonly Lazy<ComputeDevice?> openCl = new(() =>
    {
        try { return ComputeDevice.Create(BackendKind.OpenCL); }
        catch (InvalidOperationException) { return null; }
    });

    public static ComputeDevice CpuSim => cpuSim.Value;

    /// <summary>The OpenCL device, or the test is ignored (failed when SSD_REQUIRE_OPENCL=1).</summary>
    public static ComputeDevice OpenCL
    {
        get
        {
            if (openCl.Value is { } d) return d;
            const string why = "no OpenCL device (install pocl-opencl-icd and ocl-icd-opencl-dev)";
            if (Environment.GetEnvironmentVariable("SSD_REQUIRE_OPENCL") == "1") Assert.Fail(why);
            Assert.Ignore(why);
            return null!;
        }
    }

    public static ComputeDevice Get(BackendKind kind) => kind switch
    {
        BackendKind.CpuSim => CpuSim,
        BackendKind.OpenCL => OpenCL,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The two backends every kernel test runs on.</summary>
    public static readonly BackendKind[] Backends = [BackendKind.CpuSim, BackendKind.OpenCL];
}
