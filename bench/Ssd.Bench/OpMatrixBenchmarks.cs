using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Ssd.Engine.Backends;
using Ssd.Engine.Backends.Ilgpu;
using Ssd.Kernels.Core;
using Ssd.Tests.Kernels.OpMatrix;

namespace Ssd.Bench;

/// <summary>
/// PERF mode of the op matrix (tests/Ssd.Tests/Kernels/OpMatrix): the same cases, variants and backends the tests check
/// against the references, timed one launch plus synchronise each. By default the SSD300-sized cases (Large and Perf)
/// of every family on the CPU backend at every ISA level this CPU runs, plus the ILGPU device SSD_BACKEND names
/// (cuda, opencl or cpu-sim; none by default). SSD_OPS=conv,pool picks families; SSD_OP_SIZES=small,large,perf picks sizes.
/// Run: dotnet run -c Release --project bench/Ssd.Bench -- --filter '*OpMatrixBenchmarks*'
/// </summary>
[Config(typeof(Config))]
public class OpMatrixBenchmarks
{
    private sealed class Config : ManualConfig
    {
        // In process: one ILGPU context, kernels compiled once per run.
        // The runs are objects, not strings: only the in-process toolchain can pass them. Long row labels kept whole.
        public Config()
        {
            AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance));
            SummaryStyle = BenchmarkDotNet.Reports.SummaryStyle.Default.WithMaxParameterColumnWidth(120);
        }
    }

    /// <summary>One (case, variant, backend) run; its name is the row label.</summary>
    public sealed record MatrixRun(IOpCase Case, IOpVariant Variant, MatrixBackend Backend)
    {
        public override string ToString() => $"{Case.Family.Name} {Case.Pass} {Variant.Name} {Backend.Name}: {Case.Name}";
    }

    private static readonly Lazy<ComputeDevice?> device = new(() =>
        Environment.GetEnvironmentVariable("SSD_BACKEND") is { Length: > 0 } name ? ComputeDevice.Create(BackendKindNames.Parse(name)) : null);

    private static IEnumerable<MatrixBackend> Backends()
    {
        foreach (var b in OpMatrix.CpuBackends()) yield return b;
        if (device.Value is { } d) yield return new MatrixBackend(d.Kind.ToString().ToLowerInvariant(), OpTarget.Ilgpu, d.Kind == BackendKind.CpuSim, () => new IlgpuBackend(d));
    }

    private static HashSet<string>? List(string variable) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } v ? v.Split(',', StringSplitOptions.TrimEntries).ToHashSet(StringComparer.OrdinalIgnoreCase) : null;

    public static IEnumerable<MatrixRun> Runs()
    {
        var ops = List("SSD_OPS");
        var sizes = List("SSD_OP_SIZES") ?? ["large", "perf"];
        return from c in OpMatrix.Cases
               where (ops?.Contains(c.Family.Name) ?? true) && sizes.Contains(c.Size.ToString())
               from v in c.Variants
               from b in Backends()
               where b.Target == v.Target && (!b.SmallOnly || c.Size == CaseSize.Small)
               select new MatrixRun(c, v, b);
    }

    [ParamsSource(nameof(Runs))]
    public MatrixRun Run { get; set; } = null!;

    private IBackend backend = null!;
    private PreparedRun prepared = null!;

    [GlobalSetup]
    public void Setup()
    {
        backend = Run.Backend.Create();
        prepared = Run.Case.Prepare(Run.Variant, backend);
        prepared.Run(); // kernels load, weights pack, before timing
    }

    [Benchmark]
    public void Op() => prepared.Run();

    [GlobalCleanup]
    public void Cleanup()
    {
        prepared.Dispose();
        backend.Dispose();
    }
}
