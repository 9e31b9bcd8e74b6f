using System.Reflection;
using System.Text.RegularExpressions;
using Ssd.Kernels.Core;
using Ssd.Kernels.Ptx;

namespace Ssd.Tests.Ptx;

/// <summary>
/// Every catalogued kernel compiles to PTX ISA 7.8 without a GPU and assembles with ptxas for sm_75, sm_80 and
/// sm_90 with no error and no register spill.
/// </summary>
[Parallelizable(ParallelScope.Children)]
public class PtxAssemblyTests
{
    public static IEnumerable<TestCaseData> AllArchs() => PtxTools.KernelsByArch(GpuArch.All);
    public static IEnumerable<TestCaseData> PtxTargets() => PtxTools.KernelsByArch([GpuArch.Sm75, GpuArch.Sm80]);

    [Test]
    public void CatalogIsNotEmpty() =>
        Assert.That(KernelCatalog.All, Is.Not.Empty, "no method in Ssd.Kernels carries [Kernel]");

    [Test]
    public void EveryKernelMethodIsStaticAndNonGeneric()
    {
        // Look at instance methods too: KernelCatalog only discovers static ones, so a [Kernel] on an instance
        // method would silently drop out of the PTX check.
        var marked = typeof(KernelCatalog).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Where(m => m.GetCustomAttribute<KernelAttribute>() is not null)
            .ToList();
        Assert.Multiple(() =>
        {
            foreach (var m in marked)
            {
                var name = $"{m.DeclaringType}.{m.Name}";
                Assert.That(m.IsStatic, $"{name} carries [Kernel] but is not static");
                Assert.That(m.ContainsGenericParameters, Is.False, $"{name} carries [Kernel] but is generic");
                Assert.That(m.ReturnType, Is.EqualTo(typeof(void)), $"{name} carries [Kernel] but does not return void");
                Assert.That(m.GetCustomAttribute<KernelAttribute>()!.GroupSize, Is.InRange(0, 1024), $"{name}: group size out of range");
            }
            Assert.That(KernelCatalog.All.Count, Is.EqualTo(marked.Count), "the catalog misses some [Kernel] methods");
        });
    }

    [Test]
    public void RooflineResourcesAreWhatPtxasReports()
    {
        // The CUDA conv rule and docs/kernels/gpu-roofline.md take occupancy from Conv2dCosts.Resources: it must follow the kernels.
        // ptxas is looked up before Assert.Multiple: an Assert.Ignore inside it is a failure, not a skip.
        var ptxas = PtxTools.Ptxas;
        Assert.Multiple(() =>
        {
            foreach (var (name, expected) in Ssd.Kernels.Conv.Conv2dCosts.Resources)
            {
                var kernel = KernelCatalog.All.Single(k => k.FullName == name);
                var r = ptxas.Assemble(PtxTools.Ptx(kernel, GpuArch.Sm90), GpuArch.Sm90);
                Assert.That((r.Registers, r.SharedMemoryBytes), Is.EqualTo((expected.Registers, expected.SharedBytes)),
                    $"{name} on sm_90: update Conv2dCosts.Resources (and regenerate docs/kernels/gpu-roofline.md)");
            }
        });
    }

    [TestCaseSource(nameof(PtxTargets))]
    public void PtxIsIsa78ForItsTarget(object kernelCase, object archCase)
    {
        var (kernel, arch) = ((KernelEntry)kernelCase, (GpuArch)archCase); // object: the types are internal to Ssd.Kernels
        var ptx = PtxTools.Ptx(kernel, arch);
        Assert.Multiple(() =>
        {
            Assert.That(ptx, Does.Match(@"(?m)^\.version 7\.8\s*$"), "PTX ISA version");
            Assert.That(ptx, Does.Match($@"(?m)^\.target {arch.PtxTargetName}\s*$"), "PTX target");
            Assert.That(Regex.Matches(ptx, @"\.entry\s").Count, Is.EqualTo(1), "entry points in the module");
        });
    }

    [TestCaseSource(nameof(AllArchs))]
    public void AssemblesWithoutErrorsOrSpills(object kernelCase, object archCase)
    {
        var (kernel, arch) = ((KernelEntry)kernelCase, (GpuArch)archCase); // object: the types are internal to Ssd.Kernels
        var result = PtxTools.Ptxas.Assemble(PtxTools.Ptx(kernel, arch), arch);
        Assert.Multiple(() =>
        {
            Assert.That(result.Errors, Is.Empty, $"ptxas errors for {kernel.FullName} on {arch}:\n{result.Output}");
            Assert.That(result.ExitCode, Is.Zero, $"ptxas exit code:\n{result.Output}");
            Assert.That(result.SpillStoreBytes, Is.Zero, $"spill stores for {kernel.FullName} on {arch}:\n{result.Output}");
            Assert.That(result.SpillLoadBytes, Is.Zero, $"spill loads for {kernel.FullName} on {arch}:\n{result.Output}");
            Assert.That(result.Registers, Is.GreaterThan(0), $"no register count parsed from:\n{result.Output}");
        });
    }
}
