using System.Diagnostics;
using Ssd.Kernels.Cpu;
using Ssd.Kernels.Conv;

namespace Ssd.Bench;

/// <summary>
/// A load-tolerant companion to <see cref="CpuConvBenchmarks"/> for a shared machine: times single calls of each
/// SSD300 conv layer and keeps the best of N (after 2 warm-up calls), so short quiet moments are what gets measured.
/// Run: dotnet run -c Release --project bench/Ssd.Bench -- conv-best-of [layers|all] [Auto,Gemm,...] [N]
/// (tools/bench/torch_conv_layers.py --best-of N does the same for PyTorch; run the two per layer, interleaved).
/// </summary>
public static class CpuConvBestOf
{
    public static void Run(string[] args)
    {
        var layers = args.Length > 0 && args[0] != "all" ? args[0].Split(',') : Ssd300ConvLayers.All.Select(l => l.Name).ToArray();
        var algorithms = (args.Length > 1 ? args[1] : "Auto,Gemm").Split(',').Select(Enum.Parse<CpuConvAlgorithm>).ToArray();
        int n = args.Length > 2 ? int.Parse(args[2]) : 15;
        foreach (var name in layers)
        {
            var l = Ssd300ConvLayers.Named(name);
            var rng = new Random(1);
            var w = new float[l.P.WeightCount(l.Input.C, l.OutC)];
            for (int i = 0; i < w.Length; i++) w[i] = rng.NextSingle() - 0.5f;
            var x = new float[l.Input.Count];
            for (int i = 0; i < x.Length; i++) x[i] = rng.NextSingle();
            foreach (var algorithm in algorithms)
            {
                var conv = new CpuConv2d(l.P, l.Input.C, l.OutC, w, new float[l.OutC], new CpuConvOptions(Algorithm: algorithm));
                var y = new float[conv.OutputShape(l.Input).Count];
                for (int i = 0; i < 2; i++) conv.Forward(x, l.Input, y);
                double best = double.MaxValue;
                for (int i = 0; i < n; i++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    conv.Forward(x, l.Input, y);
                    best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                }
                Console.WriteLine($"{name},{algorithm},{conv.AlgorithmFor(l.Input)},{best:F3},{l.Flops / best / 1e6:F1}");
            }
        }
    }
}
