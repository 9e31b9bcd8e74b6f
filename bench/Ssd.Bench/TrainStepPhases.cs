using System.Diagnostics;
using System.Globalization;
using Ssd.Engine.Backends.Cpu;
using Ssd.Engine.Graph;
using Ssd.Engine.Network;
using Ssd.Engine.Training;
using Ssd.Engine.Training.Init;
using Ssd.Engine.Training.Loss;
using Ssd.Engine.Training.Optim;
using Ssd.Weights.Model;
using Ssd.Weights.Model.Architecture;

namespace Ssd.Bench;

/// <summary>
/// Where a CPU training step's time goes: an untrained torchvision SSD300-VGG16 with its channels divided by a width
/// divisor, AdamW, a batch of uniform random inputs with two boxes per image, stepped on the CPU backend image by
/// image and as the whole batch (<see cref="Trainer"/>'s two paths), alternating the two trainers step by step so a
/// loaded machine slows them alike; the trainer's own stopwatch (<see cref="StepPhases"/>) splits each step into
/// forward, loss, backward, gradient reads, gradient sums, the guard's checks, the optimizer and the weight refresh.
/// The first 2 steps of each are warm-up, not counted.
/// Run: dotnet run -c Release --project bench/Ssd.Bench -- train-phases [width-divisor=8] [batch=8] [steps=10]
/// </summary>
public static class TrainStepPhases
{
    public static int Run(string[] args)
    {
        var c = CultureInfo.InvariantCulture;
        int divisor = args.Length > 0 ? int.Parse(args[0], c) : 8;
        int batch = args.Length > 1 ? int.Parse(args[1], c) : 8;
        int steps = args.Length > 2 ? int.Parse(args[2], c) : 10;
        const int warmup = 2, classes = 4;
        using var backend = new CpuBackend();
        Trainer Make(bool imageByImage)
        {
            var created = VggSsd.Create(ModelFlavor.Torchvision, 300, classes, divisor);
            var weights = ModelWeights.From(created.Tensors);
            WeightInit.Initialize(ModelFlavor.Torchvision, weights, 7);
            var t = Trainer.Create(created.Description, weights, backend, batch, ps => new AdamW(ParameterGroup.Single(ps, 1e-3, 5e-4)), null, imageByImage);
            t.Phases = new StepPhases();
            return t;
        }
        using var byImage = Make(true);
        using var whole = Make(false);
        var rng = new Random(1);
        var input = new float[batch * 3 * 300 * 300];
        for (int i = 0; i < input.Length; i++) input[i] = rng.NextSingle() * 4 - 2;
        var truths = Enumerable.Range(0, batch).Select(i => new GroundTruth([30f + i, 40f, 150f, 200f + i, 160f, 20f + i, 290f, 120f], [1, 1 + i % (classes - 1)])).ToArray();
        var names = Enumerable.Range(0, batch).Select(i => $"image{i}").ToArray();
        var totals = new long[2];
        Trainer[] both = [byImage, whole];
        for (int s = 0; s < warmup + steps; s++)
        {
            if (s == warmup) foreach (var t in both) t.Phases!.Clear();
            for (int k = 0; k < 2; k++)
            {
                long start = Stopwatch.GetTimestamp();
                both[k].Step(input, truths, names);
                if (s >= warmup) totals[k] += Stopwatch.GetTimestamp() - start;
            }
        }
        double Ms(long ticks) => ticks * 1e3 / Stopwatch.Frequency / steps;
        Console.WriteLine(string.Create(c, $"Machine: {Machine.Description}; load average {File.ReadAllText("/proc/loadavg").Trim()}"));
        Console.WriteLine(string.Create(c, $"SSD300-VGG16 torchvision, width / {divisor}, batch {batch}, AdamW, CPU backend; mean ms per step over {steps} steps after {warmup} warm-up, the two paths alternated"));
        Console.WriteLine(string.Create(c, $"training arenas: image by image {byImage.Network.ArenaBytes / 1048576.0:F1} MiB (batch {byImage.Network.Batch}), whole batch {whole.Network.ArenaBytes / 1048576.0:F1} MiB (batch {whole.Network.Batch})"));
        Console.WriteLine();
        Console.WriteLine("| phase | image by image ms | whole batch ms |");
        Console.WriteLine("|---|---:|---:|");
        foreach (var phase in Enum.GetValues<StepPhase>())
            Console.WriteLine(string.Create(c, $"| {phase} | {Ms(byImage.Phases!.Ticks[(int)phase]):F1} | {Ms(whole.Phases!.Ticks[(int)phase]):F1} |"));
        Console.WriteLine(string.Create(c, $"| **step** | {Ms(totals[0]):F1} ({batch * 1e3 / Ms(totals[0]):F1} images/s) | {Ms(totals[1]):F1} ({batch * 1e3 / Ms(totals[1]):F1} images/s) |"));
        // One more step of the image-by-image trainer with its network profiled: forward and backward by op.
        byImage.Network.Profiling = true;
        byImage.Step(input, truths, names);
        Console.WriteLine();
        Console.WriteLine("Image by image, one step profiled (the batch's images summed), by op:");
        Console.WriteLine();
        Console.WriteLine("| op | forward ms | backward ms |");
        Console.WriteLine("|---|---:|---:|");
        var forward = byImage.Network.LayerTimings.GroupBy(t => t.Op).ToDictionary(g => g.Key, g => g.Sum(t => t.Total.TotalMilliseconds));
        var backward = byImage.Network.BackwardTimings.GroupBy(t => t.Entry is BackwardStep b ? LayerTiming.OpOf(b.Forward) : "GradientSum")
            .ToDictionary(g => g.Key, g => g.Sum(t => t.Total.TotalMilliseconds));
        foreach (var op in forward.Keys.Union(backward.Keys).OrderByDescending(k => forward.GetValueOrDefault(k) + backward.GetValueOrDefault(k)))
            Console.WriteLine(string.Create(c, $"| {op} | {forward.GetValueOrDefault(op):F1} | {backward.GetValueOrDefault(op):F1} |"));
        return 0;
    }
}
