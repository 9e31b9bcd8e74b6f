using System.Globalization;
using System.Text;
using Ssd.Kernels.Conv;
using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;
using Ssd.Kernels.L2Norm;
using Ssd.Kernels.Pooling;

namespace Ssd.Bench;

/// <summary>
/// The per-op forward and backward table of an SSD300 training step on the CPU backend's kernels, against the machine's
/// FP32 peak (<see cref="FmaPeak.Measure"/>): every convolution (VGG-16 base, extras and the six loc / conf heads at
/// 21 classes) with its forward (<see cref="CpuConv2d"/> on the engine's automatic algorithm for the planned input),
/// dx and dw + db (<see cref="Conv2dBackwardSimd"/>, the fused ReLU's mask included in neither: it is a separate
/// memory pass the engine runs once per layer; dx marked W runs as the engine's does there, the Winograd forward conv of
/// dy, <see cref="WinogradInputGradient"/>; dw marked W is <see cref="WinogradWeightGradient"/>'s F(4x4), timed beside
/// the direct GEMM dw it replaces, interleaved), each as ms, GFLOP/s (2 FLOP per multiply-add of the direct convolution,
/// whatever algorithm ran) and % of peak; then the max pools (forward with argmax, backward) and conv4_3's L2Norm
/// (forward, backward), which move memory rather than compute (ms only). Best single call of N after 2 warm-up calls,
/// the calls of one layer interleaved round by round so a loaded machine slows them alike.
/// Run: dotnet run -c Release --project bench/Ssd.Bench -- train-layers [batch=8] [N=3] [results.md] [--width-divisor D]
/// (D: every channel count but the image's 3 and the heads' outputs divided by D, as <c>ssd train --width-divisor</c>)
/// (bench/results/train-step.md holds the table of an idle run).
/// </summary>
public static class TrainLayerTable
{
    private sealed record Pool(string Name, int C, int Size, int Kernel, int Stride, int Pad, PoolOutputRule Rule);

    private static readonly Pool[] Pools =
    [
        new("pool1", 64, 300, 2, 2, 0, PoolOutputRule.TorchFloor), new("pool2", 128, 150, 2, 2, 0, PoolOutputRule.TorchFloor),
        new("pool3 (ceil)", 256, 75, 2, 2, 0, PoolOutputRule.CaffeCeil), new("pool4", 512, 38, 2, 2, 0, PoolOutputRule.TorchFloor),
        new("pool5 (3x3 s1 p1)", 512, 19, 3, 1, 1, PoolOutputRule.TorchFloor),
    ];

    /// <summary>The six heads of SSD300 (VOC, 21 classes): source, its channels and size, default boxes per cell.</summary>
    private static readonly (string Source, int C, int Size, int Boxes)[] Heads =
        [("conv4_3", 512, 38, 4), ("fc7", 1024, 19, 6), ("conv8_2", 512, 10, 6), ("conv9_2", 256, 5, 6), ("conv10_2", 256, 3, 4), ("conv11_2", 256, 1, 4)];

    private const int Classes = 21;

    /// <summary>The convolutions, every channel count but the image's and the heads' outputs divided by <paramref name="divisor"/>.</summary>
    public static IEnumerable<Ssd300ConvLayers.Layer> Convolutions(int divisor = 1) =>
        Ssd300ConvLayers.All.Select(l => l with { Input = l.Input with { C = l.Input.C == 3 ? 3 : l.Input.C / divisor }, OutC = l.OutC / divisor })
            .Concat(Heads.SelectMany(h => new[]
            {
                new Ssd300ConvLayers.Layer($"{h.Source}_mbox_loc", new TensorShape(1, h.C / divisor, h.Size, h.Size), 4 * h.Boxes, Conv2dParams.Square(3, pad: 1)),
                new Ssd300ConvLayers.Layer($"{h.Source}_mbox_conf", new TensorShape(1, h.C / divisor, h.Size, h.Size), Classes * h.Boxes, Conv2dParams.Square(3, pad: 1)),
            }));

    public static int Run(string[] args)
    {
        var c = CultureInfo.InvariantCulture;
        int divisor = 1, at = Array.IndexOf(args, "--width-divisor");
        if (at >= 0)
        {
            divisor = int.Parse(args[at + 1], c);
            args = [.. args[..at], .. args[(at + 2)..]];
        }
        int batch = args.Length > 0 ? int.Parse(args[0], c) : 8;
        int n = args.Length > 1 ? int.Parse(args[1], c) : 3;
        string? results = args.Length > 2 ? args[2] : null;
        var peak = FmaPeak.Measure() ?? throw new PlatformNotSupportedException("no FMA on this machine: no FP32 peak to compare with");
        var text = new StringBuilder();
        void Line(string s) { text.AppendLine(s); Console.WriteLine(s); }
        Line(string.Create(c, $"Machine: {Machine.Description}; FP32 peak {peak.Gflops:F1} GFLOP/s ({peak.Source}). SSD300{(divisor > 1 ? $" with channels / {divisor}" : "")} at batch {batch}, best of {n} calls per op (`dotnet run -c Release --project bench/Ssd.Bench -- train-layers {batch} {n}{(divisor > 1 ? $" --width-divisor {divisor}" : "")}`)."));
        Line("");
        Line("| layer | GFLOP (each pass) | forward ms | GFLOP/s | % peak | dx ms | GFLOP/s | % peak | dw+db ms | GFLOP/s | % peak | direct dw ms |");
        Line("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        double totalF = 0, totalX = 0, totalW = 0, totalDirect = 0, flops = 0, flopsX = 0;
        string Rate(double gflop, double ms) => string.Create(c, $"{gflop / ms * 1e3:F1} | {100 * gflop / ms * 1e3 / peak.Gflops:F0}%");
        foreach (var l in Convolutions(divisor))
        {
            var (input, output, x, w, y, dy) = ConvBackwardBestOf.Operands(l, batch);
            var (dx, dw, db) = (new float[x.Length], new float[w.Length], new float[l.OutC]);
            var forward = new CpuConv2d(l.P, input.C, l.OutC, w, new float[l.OutC], new CpuConvOptions(PlannedInput: input));
            var backward = new Conv2dBackwardSimd(l.P, input.C, l.OutC);
            bool first = l.Name == "conv1_1";   // the engine computes no dx for the input image
            // dx as the engine runs it: the Winograd forward conv of dy where the forward's choice picks it for dy's shape.
            var winogradDx = first ? null : WinogradInputGradient.For(l.P, input.C, l.OutC, input, w, default);
            bool winogradDw = backward.WinogradWeights(input);
            var best = ConvBackwardBestOf.BestOf(n,
            [
                () => forward.Forward(x, input, y),
                () =>
                {
                    if (winogradDx is not null) winogradDx.Run(dy, dx);
                    else if (!first) backward.InputGradient(dy, input, w, dx);
                },
                () => { backward.WeightGradient(x, input, dy, dw); backward.BiasGradient(dy, output, db); },
                // The direct GEMM dw too where the engine runs F(4x4), interleaved with it, for the ratio.
                () => { if (winogradDw) backward.DirectWeightGradient(x, input, dy, dw); },
            ]);
            double g = l.P.Flops(input, l.OutC) / 1e9;
            (totalF, totalX, totalW, flops, flopsX) = (totalF + best[0], totalX + (first ? 0 : best[1]), totalW + best[2], flops + g, flopsX + (first ? 0 : g));
            string dxMark = winogradDx is null ? "" : " W", dwMark = winogradDw ? " W" : "";
            totalDirect += winogradDw ? best[3] : best[2];
            Line(string.Create(c, $"| {l.Name} | {g:F2} | {best[0]:F1} | {Rate(g, best[0])} | {(first ? "- | - | -" : $"{best[1]:F1}{dxMark} | {Rate(g, best[1])}")} | {best[2]:F1}{dwMark} | {Rate(g, best[2])} | {(winogradDw ? best[3].ToString("F1", c) : "")} |"));
        }
        Line(string.Create(c, $"| **convolutions** | {flops:F1} | {totalF:F0} | {Rate(flops, totalF)} | {totalX:F0} | {Rate(flopsX, totalX)} | {totalW:F0} | {Rate(flops, totalW)} | {totalDirect:F0} (direct dw wherever it is W, + db) |"));
        Line("");
        Line("| layer | input | forward ms | backward ms |");
        Line("|---|---|---:|---:|");
        foreach (var p in Pools)
        {
            var g = PoolGeometry.Create(new TensorShape(batch, p.C / divisor, p.Size, p.Size), p.Kernel, p.Stride, p.Pad, p.Rule);
            var rng = new Random(2);
            var x = Enumerable.Range(0, (int)g.Input.Count).Select(_ => rng.NextSingle()).ToArray();
            var (y, arg, dy, dx) = (new float[g.Output.Count], new int[g.Output.Count], new float[g.Output.Count], new float[x.Length]);
            var best = ConvBackwardBestOf.BestOf(n, [() => CpuPooling.MaxWithArgmax(g, x, y, arg), () => PoolBackwardSimd.MaxBackward(g, arg, dy, dx)]);
            Line(string.Create(c, $"| {p.Name} | {p.C / divisor}x{p.Size}x{p.Size} | {best[0]:F1} | {best[1]:F1} |"));
        }
        {
            int ch = 512 / divisor, size = 38;
            var rng = new Random(3);
            var x = Enumerable.Range(0, batch * ch * size * size).Select(_ => rng.NextSingle() - 0.5f).ToArray();
            var scale = Enumerable.Repeat(20f, ch).ToArray();
            var (y, dy, dx, ds) = (new float[x.Length], new float[x.Length], new float[x.Length], new float[ch]);
            var best = ConvBackwardBestOf.BestOf(n,
            [
                () => CpuL2Norm.Forward(batch, ch, size, size, x, scale, L2NormEpsilon.AfterSqrt, L2NormDefaults.SsdPytorchEps, y),
                () => L2NormBackwardSimd.Backward(batch, ch, size, size, x, scale, L2NormEpsilon.AfterSqrt, L2NormDefaults.SsdPytorchEps, dy, dx, ds),
            ]);
            Line(string.Create(c, $"| conv4_3 L2Norm | {ch}x{size}x{size} | {best[0]:F1} | {best[1]:F1} |"));
        }
        if (results is not null) File.WriteAllText(results, text.ToString());
        return 0;
    }
}
