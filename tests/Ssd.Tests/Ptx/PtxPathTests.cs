using System.Reflection;
using System.Text.RegularExpressions;
using Ssd.Kernels.Core;
using Ssd.Kernels.Ptx;

namespace Ssd.Tests.Ptx;

/// <summary>
/// The PTX path on what the catalogued kernels may use: explicit grouping, shared memory, ILGPU.Algorithms; and
/// the ptxas output parser and report.
/// </summary>
public class PtxPathTests
{
    private static KernelEntry TestKernel(string name) => PtxTestKernels.All.Single(k => k.Name == name);

    [Test]
    public void TestKernelsAreDiscoveredWithTheirGroupSizes()
    {
        Assert.That(PtxTestKernels.All.Select(k => (k.FullName, k.GroupSize)), Is.EquivalentTo(new[]
        {
            ("ptxtest.GroupSum", PtxTestKernels.SumGroupSize),
            ("ptxtest.GroupExpSum", PtxTestKernels.ReduceGroupSize),
        }));
    }

    [TestCase(nameof(PtxTestKernels.GroupSum), PtxTestKernels.SumGroupSize)]
    [TestCase(nameof(PtxTestKernels.GroupExpSum), PtxTestKernels.ReduceGroupSize)]
    public void ExplicitlyGroupedKernelIsSpecialisedToItsGroupSize(string name, int groupSize)
    {
        var ptx = PtxTools.Ptx(TestKernel(name), GpuArch.Sm80);
        Assert.That(ptx, Does.Match($@"\.maxntid\s+{groupSize}\b"));
    }

    [Test]
    public void ImplicitlyGroupedKernelIsNotSpecialised() =>
        Assert.That(PtxTools.Ptx(KernelCatalog.All.Single(k => k.FullName == "relu.Relu1"), GpuArch.Sm80), Does.Not.Contain(".maxntid"));

    [TestCaseSource(typeof(GpuArch), nameof(GpuArch.All))]
    public void SharedMemoryTileIsReportedByPtxas(object archCase)
    {
        var arch = (GpuArch)archCase; // object: the test method is public, GpuArch internal to Ssd.Kernels
        var result = PtxTools.Ptxas.Assemble(PtxTools.Ptx(TestKernel(nameof(PtxTestKernels.GroupSum)), arch), arch);
        Assert.That(result.SharedMemoryBytes, Is.EqualTo(PtxTestKernels.SumGroupSize * sizeof(float)), result.Output);
    }

    [Test]
    public void CompilerRejectsAnInstanceMethod()
    {
        var method = typeof(PtxPathTests).GetMethod(nameof(CompilerRejectsAnInstanceMethod), BindingFlags.Instance | BindingFlags.Public)!;
        var ex = Assert.Throws<ArgumentException>(() => PtxTools.Compiler.Compile(new KernelEntry("bad", "Instance", method, 0), GpuArch.Sm80));
        Assert.That(ex!.Message, Does.Contain("bad.Instance").And.Contain("static"));
    }

    [Test]
    public void PtxasReportsAnInvalidModuleAsAnError()
    {
        var result = PtxTools.Ptxas.Assemble(".version 7.8\n.target sm_80\n.address_size 64\n.visible .entry k() { bogus.instruction; }\n", GpuArch.Sm80);
        Assert.That(result.Succeeded, Is.False);
        Assert.That(result.Errors, Is.Not.Empty, result.Output);
    }

    [Test]
    public void ParsesSpillsStackAndSharedMemory()
    {
        // Verbatim ptxas 11.8 output (stdout and stderr) for a hand-written module forced to spill with
        // -maxrregcount=16, followed by the block ptxas prints for a non-inlined helper function.
        const string output = """
            ptxas warning : For profile sm_80 adjusting per thread register count of 16 to lower bound of 24
            ptxas warning : Registers are spilled to local memory in function 'k', 216 bytes spill stores, 216 bytes spill loads
            ptxas info    : 0 bytes gmem
            ptxas info    : Compiling entry function 'k' for 'sm_80'
            ptxas info    : Function properties for k
                216 bytes stack frame, 216 bytes spill stores, 216 bytes spill loads
            ptxas info    : Used 24 registers, 2048 bytes smem, 360 bytes cmem[0]
            ptxas info    : Function properties for helper
                16 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads
            """;
        var r = PtxasResult.Parse(GpuArch.Sm80, 0, output);
        Assert.Multiple(() =>
        {
            Assert.That((r.Registers, r.SharedMemoryBytes, r.StackFrameBytes), Is.EqualTo((24, 2048, 232)));
            Assert.That((r.SpillStoreBytes, r.SpillLoadBytes), Is.EqualTo((224, 220)));
            Assert.That(r.Spills && r.Succeeded);
            Assert.That(r.Warnings, Has.Count.EqualTo(2));
            Assert.That(r.Status, Does.StartWith("spills"));
        });
    }

    [Test]
    public void ReportHasARowPerKernelAndArch()
    {
        var kernels = KernelCatalog.All.Concat(PtxTestKernels.All).ToList();
        var rows = PtxCheck.Run(PtxTools.Compiler, PtxTools.Ptxas, kernels, GpuArch.All);
        var markdown = PtxReport.Markdown(rows, "test");
        Assert.Multiple(() =>
        {
            foreach (var k in kernels)
                foreach (var a in GpuArch.All.Where(a => k.RunsOnSm(a.Sm))) // an sm_80-only kernel (MinSm) has no sm_75 row
                    Assert.That(markdown, Does.Contain($"| {k.FullName}").And.Match($@"\| {Regex.Escape(k.FullName)}[^|]*\| {a.Name} \| {a.PtxTargetName} \|"));
        });
    }
}
