using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Ssd.Bench;

/// <summary>
/// SSD300 and SSD512 against their peers in one BenchmarkDotNet run, on the same weights and inputs: the generated
/// full-size acceptance fixtures (tools/fixtures/make_torchvision_acceptance.py, make_caffe_acceptance.py).
/// Each row is one <see cref="PeerCase"/>: a peer, a model, what it measures (network only, or end to end from the
/// decoded photo to the detections) and a batch. Every peer runs with 2 threads (the machine's cores).
/// Set up first: /usr/bin/python3 tools/bench/export_onnx.py (the ONNX model); cases whose files are missing are
/// skipped with a message. Run: bench/run-peers.sh (or dotnet run -c Release --project bench/Ssd.Bench -- --filter '*PeerBenchmarks*').
/// SSD_BENCH_PEERS=ours-cpu,onnxruntime,opencv,pytorch, SSD_BENCH_MODELS=ssd300-tv,ssd300-caffe,ssd512-caffe and
/// SSD_BENCH_BATCHES=1,8 narrow the run; SSD_BENCH_ITERATIONS=N sets the timed iterations (default 3).
/// One iteration is one forward pass (or one batch end to end); 1 warm-up and 3 timed iterations, in-process:
/// short, since SSD512 batch 8 takes seconds per pass on 2 cores.
/// </summary>
[Config(typeof(Config))]
public class PeerBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithStrategy(RunStrategy.Monitoring)
                .WithWarmupCount(1).WithIterationCount(Iterations).WithLaunchCount(1).WithInvocationCount(1).WithUnrollFactor(1));
            AddColumn(new ThroughputColumn(b => ((PeerCase)b.Parameters["Case"]).Batch));
            AddColumn(StatisticColumn.Min);
            HideColumns(Column.Method, Column.Error);
            WithSummaryStyle(SummaryStyle.Default.WithMaxParameterColumnWidth(40).WithTimeUnit(Perfolizer.Horology.TimeUnit.Millisecond));
        }
    }

    /// <summary>Timed iterations per case: 3, or SSD_BENCH_ITERATIONS (more give a better best-of on a busy machine).</summary>
    private static int Iterations =>
        int.TryParse(Environment.GetEnvironmentVariable("SSD_BENCH_ITERATIONS"), out int n) && n > 0 ? n : 3;

    public static IEnumerable<PeerCase> Cases => PeerCase.Available();

    [ParamsSource(nameof(Cases))]
    public PeerCase Case { get; set; } = null!;

    private IPeerRunner runner = null!;

    [GlobalSetup]
    public void Setup()
    {
        runner = PeerRunners.Create(Case);
        Console.WriteLine($"// {Case}: {runner.Describe()}");
    }

    [Benchmark]
    public void Run() => runner.Run();

    [GlobalCleanup]
    public void Cleanup() => runner.Dispose();
}
