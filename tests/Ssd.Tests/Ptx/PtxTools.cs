using System.Collections.Concurrent;
using ILGPU.Runtime.Cuda;
using Ssd.Kernels.Core;
using Ssd.Kernels.Ptx;

namespace Ssd.Tests.Ptx;

/// <summary>
/// One PTX compiler and ptxas for the whole test run, and each kernel's PTX compiled once per PTX target.
/// ptxas is found like `ssd ptx` finds it; when it is missing the tests that need it are ignored, unless
/// SSD_REQUIRE_PTXAS=1 (CI sets it), which makes them fail.
/// </summary>
internal static class PtxTools
{
    private static readonly Lazy<PtxCompiler> compiler = new(() => new PtxCompiler());
    private static readonly Lazy<(Ptxas? Found, string Why)> ptxas = new(Find);
    private static readonly ConcurrentDictionary<(MethodInfoKey, CudaArchitecture), Lazy<string>> ptx = new();

    private readonly record struct MethodInfoKey(System.Reflection.MethodInfo Method);

    public static PtxCompiler Compiler => compiler.Value;

    public static Ptxas Ptxas
    {
        get
        {
            var (found, why) = ptxas.Value;
            if (found is not null) return found;
            if (Environment.GetEnvironmentVariable("SSD_REQUIRE_PTXAS") == "1") Assert.Fail(why);
            Assert.Ignore(why);
            return null!;
        }
    }

    /// <summary>ptxas, or why there is none: not found, or <see cref="Ptxas.EnvironmentVariable"/> naming a missing file.</summary>
    private static (Ptxas?, string) Find()
    {
        try
        {
            return Ptxas.Locate() is { } p
                ? (p, "")
                : (null, $"ptxas not found (set {Ptxas.EnvironmentVariable} or install it to <repo>/{Ptxas.RepoRelativePath})");
        }
        catch (FileNotFoundException e) { return (null, e.Message); }
    }

    /// <summary>The kernel's PTX for the architecture's PTX target (sm_90 shares sm_80's).</summary>
    public static string Ptx(KernelEntry kernel, GpuArch arch) =>
        ptx.GetOrAdd((new MethodInfoKey(kernel.Method), arch.PtxTarget), _ => new Lazy<string>(() => Compiler.Compile(kernel, arch).Assembly)).Value;

    /// <summary>Every kernel of Ssd.Kernels plus the test-only ones, each with every architecture it runs on (<see cref="KernelEntry.MinSm"/>).</summary>
    public static IEnumerable<TestCaseData> KernelsByArch(IEnumerable<GpuArch> archs) =>
        from kernel in KernelCatalog.All.Concat(PtxTestKernels.All)
        from arch in archs
        where kernel.RunsOnSm(arch.Sm)
        select new TestCaseData(kernel, arch).SetArgDisplayNames(kernel.FullName, arch.Name);
}
