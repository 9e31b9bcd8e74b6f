using System.Diagnostics;
using Ssd.Kernels.Conv;
using Ssd.Kernels.Core;

namespace Ssd.Bench;

/// <summary>
/// Load-tolerant timing of the convolution gradients (<see cref="Conv2dBackwardSimd"/>) of every SSD300 conv layer at
/// a training batch: the best single call of N (after 2 warm-up calls) of dx, of dw (+ db), and of the two together.
/// Run: dotnet run -c Release --project bench/Ssd.Bench -- conv-backward-best-of [layers|all] [batch=8] [N=5]
/// tools/bench/torch_conv_backward.py --best-of N [layers] [batch] times torch's convolution_backward the same way;
/// run the two interleaved on an idle machine (bench/results/conv-backward.md).
/// Prints: layer, the forward GEMM's ms (CpuConv2d with the GEMM algorithm, the same multiply-adds as each gradient: the yardstick a loaded machine cannot
/// distort, measured in the same rounds), dx ms, dw ms, both ms, GFLOP/s of both (2 FLOP per multiply-add, 2 GEMMs of
/// the forward's size).
/// </summary>
public static class ConvBackwardBestOf
{
    public static void Run(string[] args)
    {
        var layers = args.Length > 0 && args[0] != "all" ? args[0].Split(',') : Ssd300ConvLayers.All.Select(l => l.Name).ToArray();
        int batch = args.Length > 1 ? int.Parse(args[1]) : 8;
        int n = args.Length > 2 ? int.Parse(args[2]) : 5;
        Console.WriteLine($"# {Machine.Description}, batch {batch}, best of {n}");
        Console.WriteLine("layer,forward_ms,dx_ms,dw_ms,both_ms,gflops");
        double total = 0;
        foreach (var name in layers)
        {
            var l = Ssd300ConvLayers.Named(name);
            var (input, output, x, w, y, dy) = Operands(l, batch);
            var (dx, dw, db) = (new float[x.Length], new float[w.Length], new float[l.OutC]);
            var layer = new Conv2dBackwardSimd(l.P, input.C, l.OutC);
            var forward = new CpuConv2d(l.P, input.C, l.OutC, w, new float[l.OutC], new CpuConvOptions(Algorithm: CpuConvAlgorithm.Gemm));
            var yf = new float[output.Count];
            // The four calls interleaved round by round, so a loaded machine slows them alike.
            Action[] runs =
            [
                () => forward.Forward(x, input, yf),
                () => layer.InputGradient(dy, input, w, dx),
                () => { layer.WeightGradient(x, input, dy, dw); layer.BiasGradient(dy, output, db); },
                () => layer.Backward(x, input, w, y, dy, dx, dw, db),
            ];
            var best = BestOf(n, runs);
            var (tf, tx, tw, both) = (best[0], best[1], best[2], best[3]);
            total += both;
            Console.WriteLine($"{name},{tf:F2},{tx:F2},{tw:F2},{both:F2},{2 * l.P.Flops(input, l.OutC) / both / 1e6:F1}");
        }
        Console.WriteLine($"total,,,,{total:F1},");
    }

    /// <summary>A layer's shapes at <paramref name="batch"/> and seeded operands: x in [0, 1), w in +-0.05, y and dy in +-1.</summary>
    public static (TensorShape Input, TensorShape Output, float[] X, float[] W, float[] Y, float[] DY) Operands(Ssd300ConvLayers.Layer l, int batch)
    {
        var input = l.Input with { N = batch };
        var output = l.P.OutputShape(input, l.OutC);
        var rng = new Random(1);
        float[] Fill(long count, float lo, float hi) { var a = new float[count]; for (long i = 0; i < count; i++) a[i] = lo + (hi - lo) * rng.NextSingle(); return a; }
        var x = Fill(input.Count, 0, 1);
        var w = Fill(l.P.WeightCount(input.C, l.OutC), -0.05f, 0.05f);
        return (input, output, x, w, Fill(output.Count, -1, 1), Fill(output.Count, -1, 1));
    }

    /// <summary>The best single call of each run in ms: 2 warm-up rounds, then <paramref name="n"/> rounds, the runs
    /// interleaved within each round so a loaded machine slows them alike.</summary>
    public static double[] BestOf(int n, Action[] runs)
    {
        var best = Enumerable.Repeat(double.MaxValue, runs.Length).ToArray();
        for (int round = -2; round < n; round++)
            for (int r = 0; r < runs.Length; r++)
            {
                long t0 = Stopwatch.GetTimestamp();
                runs[r]();
                if (round >= 0) best[r] = Math.Min(best[r], Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
        return best;
    }
}

/// <summary>The machine line every results file names (lscpu's model name and CPU family).</summary>
public static class Machine
{
    public static string Description => Ssd.Kernels.Cpu.MachineInfo.Description;
}
