using Ssd.Engine.Backends;
using Ssd.Engine.Backends.Ilgpu;
using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;
using Ssd.Engine.Backends.Cpu;

namespace Ssd.Tests.Kernels.OpMatrix;

/// <summary>
/// TEST mode of the op matrix: every variant of every registered op family, forward and backward, on every backend
/// this machine has (the managed CPU backend with each ISA level forced, the CPU simulator for small cases, PoCL's
/// OpenCL), against the family's plain reference, bit for bit or within the bound the variant declares.
/// </summary>
public class OpMatrixTests
{
    /// <summary>The CPU backend at every ISA level (those this CPU lacks are inconclusive, so a wider CI machine runs
    /// them), the CPU simulator (small cases), OpenCL (required on CI) and, when the run asks for it (SSD_TEST_CUDA=1,
    /// SSD_REQUIRE_CUDA=1: tools/gpu-check.sh), CUDA: the same cases and bounds on the GPU, the TF32 tensor-core variant
    /// included where the GPU is sm_80 or later. The test names carry the backend (",cuda,"), which is what
    /// gpu-check filters on.</summary>
    private static IEnumerable<MatrixBackend> Backends()
    {
        var backends = Enum.GetValues<CpuIsa>().Select(isa => new MatrixBackend($"cpu-{isa.ToString().ToLowerInvariant()}", OpTarget.Cpu, false, () =>
        {
            Assume.That(CpuIsaSupport.IsSupported(isa), $"this CPU lacks {isa}");
            return new CpuBackend(new CpuOpOptions(isa, 2));
        }))
        .Append(new MatrixBackend("cpusim", OpTarget.Ilgpu, true, () => new IlgpuBackend(TestDevices.CpuSim)))
        .Append(new MatrixBackend("opencl", OpTarget.Ilgpu, false, () => new IlgpuBackend(TestDevices.OpenCL)));
        return TestDevices.CudaRequested
            ? backends.Append(new MatrixBackend("cuda", OpTarget.Ilgpu, false, () => new IlgpuBackend(TestDevices.Cuda)))
            : backends;
    }

    /// <summary>Every case but the perf-only ones (only the small ones with SSD_TEST_SMALL=1), every variant that applies,
    /// every backend of its target.</summary>
    public static IEnumerable<TestCaseData> Runs() =>
        from c in OpMatrix.Cases
        where c.Size == CaseSize.Small || (c.Size == CaseSize.Large && !TestDevices.SmallOnly)
        from v in c.Variants
        from b in Backends()
        where b.Target == v.Target && (!b.SmallOnly || c.Size == CaseSize.Small)
        select new TestCaseData(c, v, b).SetArgDisplayNames(c.Family.Name, c.Pass.ToString(), v.Name, b.Name, c.Name);

    [TestCaseSource(nameof(Runs))]
    public void VariantMatchesReference(IOpCase c, IOpVariant variant, MatrixBackend b)
    {
        using var backend = b.Create();
        // A variant that needs what this device lacks (the TF32 tensor cores need CUDA sm_80+) is not a failure here.
        using (var probe = backend.Allocate(1))
            Assume.That(variant.RunsOn(backend.Context(probe)), $"{variant.Name} does not run on {b.Name}");
        Assert.That(OpMatrix.Check(c, variant, backend), Is.Null, $"{c.Family.Name} {c.Pass} {variant.Name} on {b.Name}: {c.Name}");
    }

    [Test]
    public void EveryRegisteredVariantRunsInTheMatrix()
    {
        var covered = OpMatrix.Cases.Where(c => c.Size != CaseSize.Perf).SelectMany(c => c.Variants).ToHashSet();
        var missing = OpRegistry.Families.SelectMany(f => f.AllVariants.Where(v => !covered.Contains(v)).Select(v => $"{f.Name} {v.Pass} {v.Name}")).ToList();
        Assert.That(missing, Is.Empty, "variants no case exercises");
    }

    [Test]
    public void EveryFamilyHasOneDefaultPerPassAndTargetAndAReferencePerPass()
    {
        foreach (var family in OpRegistry.Families)
        {
            foreach (var group in family.AllVariants.GroupBy(v => (v.Pass, v.Target)))
                Assert.That(group.Count(v => v.IsDefault), Is.GreaterThanOrEqualTo(1), $"{family.Name} {group.Key}: no default variant");
            if (family.AllVariants.Any(v => v.Pass == OpPass.Backward))
                Assert.That(family.HasBackward, $"{family.Name} has backward variants but no backward reference");
            Assert.That(family.AllVariants.Select(v => (v.Pass, v.Target, v.Name)).Distinct().Count(), Is.EqualTo(family.AllVariants.Count),
                $"{family.Name}: two variants share a name");
        }
    }

    [Test]
    public void EveryRegisteredFamilyHasCases() =>
        Assert.That(OpRegistry.Families.Where(f => !OpMatrix.Cases.Any(c => c.Family == f)).Select(f => f.Name), Is.Empty);

    [Test]
    public void AVariantThatSkipsAnElementFails()
    {
        // The harness itself: outputs start as NaN, so a variant that writes nothing cannot match the reference.
        var c = OpMatrix.Cases.First(c => c.Family.Name == "relu" && c.Pass == OpPass.Forward);
        var lazy = new OpVariant<Ssd.Kernels.Activation.ReluParams>("lazy", OpPass.Forward, OpTarget.Cpu, (_, _, _) => new LaunchExecutor(() => { }));
        var typed = (OpCase<Ssd.Kernels.Activation.ReluParams>)c;
        var run = new OpCase<Ssd.Kernels.Activation.ReluParams>(c.Name, new OpFamily<Ssd.Kernels.Activation.ReluParams>
        {
            Name = "relu", Forward = Ssd.Kernels.Activation.ActivationVariants.Relu.Forward, Variants = [lazy],
        }, OpPass.Forward, typed.Parameters, [[1f, -1f]], [2]);
        using var backend = new CpuBackend();
        Assert.That(OpMatrix.Check(run, lazy, backend), Does.Contain("element 0"));
    }
}
