using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Ssd.Kernels.Cpu;
using Ssd.Kernels.Conv;

namespace Ssd.Bench;

/// <summary>
/// Each SSD300 conv layer on the managed CPU backend (best ISA, all cores), with its GFLOP/s.
/// Run: dotnet run -c Release --project bench/Ssd.Bench -- --filter '*CpuConvBenchmarks*'
/// Short in-process runs: the machine is shared, so numbers are noisy; run twice and keep the better.
/// </summary>
[Config(typeof(Config))]
public class CpuConvBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance)
                .WithWarmupCount(2).WithIterationCount(5).WithLaunchCount(1).WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(250)));
            AddColumn(new GflopsColumn(b => Ssd300ConvLayers.Named((string)b.Parameters["Layer"]).Flops));
        }
    }

    /// <summary>All layers, or the comma-separated names in SSD_BENCH_LAYERS.</summary>
    public static IEnumerable<string> Layers =>
        Environment.GetEnvironmentVariable("SSD_BENCH_LAYERS") is { Length: > 0 } only
            ? only.Split(',', StringSplitOptions.TrimEntries)
            : Ssd300ConvLayers.All.Select(l => l.Name);

    /// <summary>Auto and Gemm, or the comma-separated algorithms in SSD_BENCH_ALGORITHMS; by name (the algorithms are
    /// Ssd.Kernels internals, and BenchmarkDotNet's generated code sees only public types).</summary>
    public static IEnumerable<string> Algorithms =>
        Environment.GetEnvironmentVariable("SSD_BENCH_ALGORITHMS") is { Length: > 0 } only
            ? only.Split(',', StringSplitOptions.TrimEntries).Select(a => Enum.Parse<CpuConvAlgorithm>(a).ToString())
            : [nameof(CpuConvAlgorithm.Auto), nameof(CpuConvAlgorithm.Gemm)];

    [ParamsSource(nameof(Layers))]
    public string Layer { get; set; } = "conv4_3";

    [ParamsSource(nameof(Algorithms))]
    public string Algorithm { get; set; } = nameof(CpuConvAlgorithm.Auto);

    private CpuConv2d _conv = null!;
    private float[] _x = [], _y = [];
    private Ssd.Kernels.Core.TensorShape _xs;

    [GlobalSetup]
    public void Setup()
    {
        var l = Ssd300ConvLayers.Named(Layer);
        var rng = new Random(1);
        var w = new float[l.P.WeightCount(l.Input.C, l.OutC)];
        for (int i = 0; i < w.Length; i++) w[i] = rng.NextSingle() - 0.5f;
        var b = new float[l.OutC];
        _conv = new CpuConv2d(l.P, l.Input.C, l.OutC, w, b, new CpuConvOptions(Algorithm: Enum.Parse<CpuConvAlgorithm>(Algorithm)));
        _xs = l.Input;
        _x = new float[l.Input.Count];
        for (int i = 0; i < _x.Length; i++) _x[i] = rng.NextSingle();
        _y = new float[_conv.OutputShape(_xs).Count];
    }

    [Benchmark]
    public void Forward() => _conv.Forward(_x, _xs, _y);
}
