using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Ssd.Kernels.Cpu;
using Ssd.Engine.Detection;
using Ssd.Engine.Imaging;
using Ssd.Engine.Network;
using Ssd.Imaging;
using Ssd.Weights.Model;

namespace Ssd.Cli.Commands;

/// <summary>
/// `ssd bench --model M [--batch N] [--iterations K] [--warmup W] [--backend B] [--image F] [--json]`: times the
/// detector on one batch, K times after W warm-up runs, and prints per-stage medians (pre-process, network,
/// post-process), the median latency of a batch, the throughput in images per second, the activation arenas the
/// detector allocated and the process's peak working set.
/// With --layers it times the network alone, step by step (<see cref="SsdNetwork.Profiling"/>), and prints each
/// layer's op, output shape, GFLOP, mean ms, GFLOP/s and percentage of the FP32 peak (--peak, else measured).
/// `ssd bench --arch ssd300-vgg16|ssd512-vgg16 [--batches 1,8,32] [--results FILE]` needs no model file: it builds the
/// network with seeded weights and prints each batch's img/s beside the roofline prediction (<see cref="BenchArchitecture"/>).
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "a model file written by `ssd convert` (or --arch)" };
        var arch = new Option<string?>("--arch") { Description = "no model file: SSD300 or SSD512 on VGG-16 with seeded weights, timed beside the roofline prediction" };
        arch.AcceptOnlyFromAmong(BenchArchitecture.Names);
        var batches = new Option<int[]>("--batches")
        {
            Description = "--arch: the batch sizes, comma-separated (default 1,8,32)",
            DefaultValueFactory = _ => [1, 8, 32],
            CustomParser = r =>
            {
                var token = r.Tokens[^1].Value;
                var parts = token.Split(',', StringSplitOptions.TrimEntries);
                var values = new int[parts.Length];
                for (int i = 0; i < parts.Length; i++)
                    if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out values[i]) || values[i] < 1 || values[i] > 1024)
                    {
                        r.AddError($"--batches: '{token}' is not a comma-separated list of batch sizes from 1 to 1024");
                        return [];
                    }
                return values;
            },
        };
        var widthDivisor = CliOptions.Int("--width-divisor", 1, 1, "--arch: divide every channel count by this (a quick dry run; no prediction applies)");
        var seed = CliOptions.Int("--seed", 1, 0, "--arch: the weight initialisation seed");
        var tf32 = new Option<bool>("--tf32") { Description = "--arch: allow the TF32 tensor-core convolutions (CUDA sm_80+; changes results)" };
        var graphs = new Option<bool>("--graphs") { Description = "--arch: replay the launches as a CUDA graph" };
        var results = new Option<string?>("--results") { Description = "--arch: write the table as Markdown to this file" };
        var ptxReport = new Option<string?>("--ptx-report") { Description = "--arch: the PTX resource report the prediction reads (default docs/kernels/ptx-report.md)" };
        var note = new Option<string?>("--note") { Description = "--arch: one more line for the results file (e.g. the GPU and driver)" };
        var batch = CliOptions.Int("--batch", 1, 1, "images per forward pass");
        var iterations = CliOptions.Int("--iterations", 10, 1, "timed runs");
        var warmup = CliOptions.Int("--warmup", 2, 0, "untimed runs first (kernel loading, JIT)");
        var backend = CliOptions.Backend();
        var image = new Option<string?>("--image") { Description = "an image to run on (default: a synthetic 640x480 image)" };
        var json = new Option<bool>("--json") { Description = "print the result as JSON" };
        var layers = new Option<bool>("--layers") { Description = "time the network layer by layer (GFLOP/s and % of peak per layer)" };
        var peak = new Option<double?>("--peak")
        {
            Description = "FP32 peak in GFLOP/s for --layers (default: a quick FMA measurement)",
            CustomParser = r =>
            {
                var token = r.Tokens[^1].Value;
                if (double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0 && double.IsFinite(v)) return v;
                r.AddError($"--peak: '{token}' is not a positive GFLOP/s figure");
                return null;
            },
        };
        var command = new Command("bench", "Time the detector: per-stage medians, latency, throughput and memory; --layers: per-layer GFLOP/s.")
            { model, batch, iterations, warmup, backend, image, json, layers, peak, arch, batches, widthDivisor, seed, tf32, graphs, results, ptxReport, note };
        command.SetAction(parse =>
        {
            int n = parse.GetValue(batch), k = parse.GetValue(iterations), w = parse.GetValue(warmup);
            var kind = parse.GetValue(backend);
            var picture = parse.GetValue(image) is { } path ? LoadImage(path) : Synthetic(640, 480);
            if (parse.GetValue(arch) is { } architecture)
            {
                if (parse.GetValue(model) is not null) throw CliException.Usage("give --model or --arch, not both");
                if (parse.GetValue(layers)) throw CliException.Usage("--layers times a --model file; --arch times whole batches");
                return BenchArchitecture.Run(new BenchArchitecture.Settings(architecture, parse.GetValue(batches)!, kind, w, k, parse.GetValue(widthDivisor),
                    (ulong)parse.GetValue(seed), parse.GetValue(tf32), parse.GetValue(graphs), parse.GetValue(results), parse.GetValue(ptxReport), parse.GetValue(note)),
                    count => Enumerable.Repeat(picture, count).ToList());
            }
            var images = Enumerable.Repeat(picture, n).ToList();
            string modelPath = parse.GetValue(model) ?? throw CliException.Usage("bench needs --model FILE (a model written by `ssd convert`) or --arch ssd300-vgg16|ssd512-vgg16");
            var (description, tensors, _) = ModelFiles.Load(modelPath);
            if (parse.GetValue(layers))
            {
                long planned = SsdNetwork.PlannedArenaBytes(description, tensors, batch: n);
                Layers(description, tensors, kind, images, w, k, planned, parse.GetValue(peak), parse.GetValue(json));
                return ExitCodes.Ok;
            }
            var options = new SsdDetectorOptions { Backend = kind, MaxBatch = n };
            using var detector = ModelFiles.CreateDetector(modelPath, description, tensors, options);
            for (int i = 0; i < w; i++) detector.Detect(images);
            var runs = new List<(DetectorTimings Stages, TimeSpan Wall)>();
            for (int i = 0; i < k; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                detector.Detect(images);
                runs.Add((detector.LastTimings, Stopwatch.GetElapsedTime(t0)));
            }
            // What the detector allocated (on the CPU backend a batch runs through the batch-1 network), not a batch-n plan.
            Report(detector.Model.Name, options.Backend.ToString(), n, runs, detector.ArenaBytes, parse.GetValue(json));
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>--image: a file that cannot be read is this run's one input failing (exit 1).</summary>
    private static RgbImage LoadImage(string path)
    {
        try { return ImageDecoder.Load(path); }
        catch (InvalidDataException e) { throw new CliException(e.Message, ExitCodes.InputsFailed, e); }
    }

    private static double Median(IEnumerable<double> xs) { var a = xs.OrderBy(x => x).ToArray(); return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2; }

    /// <summary>The most physical memory the process has held so far (VmHWM on Linux): weights, arena, runtime.</summary>
    private static long PeakWorkingSet()
    {
        using var self = Process.GetCurrentProcess();
        self.Refresh();
        return self.PeakWorkingSet64;
    }

    private static void Report(string model, string backend, int batch, List<(DetectorTimings Stages, TimeSpan Wall)> runs, long arena, bool json)
    {
        double pre = Median(runs.Select(r => r.Stages.Preprocess.TotalMilliseconds));
        double net = Median(runs.Select(r => r.Stages.Network.TotalMilliseconds));
        double post = Median(runs.Select(r => r.Stages.Postprocess.TotalMilliseconds));
        double latency = Median(runs.Select(r => r.Wall.TotalMilliseconds));
        double throughput = batch * 1000.0 / latency;
        long peakBytes = PeakWorkingSet();
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                model, backend, batch, iterations = runs.Count,
                preprocess_ms = pre, network_ms = net, postprocess_ms = post, latency_ms = latency, images_per_second = throughput,
                arena_bytes = arena, peak_working_set_bytes = peakBytes,
            }));
            return;
        }
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(c, $"{model} on {backend}, batch {batch}, {runs.Count} runs (medians):"));
        Console.WriteLine(string.Create(c, $"  pre-process   {pre,10:F2} ms"));
        Console.WriteLine(string.Create(c, $"  network       {net,10:F2} ms"));
        Console.WriteLine(string.Create(c, $"  post-process  {post,10:F2} ms"));
        Console.WriteLine(string.Create(c, $"  latency       {latency,10:F2} ms per batch"));
        Console.WriteLine(string.Create(c, $"  throughput    {throughput,10:F2} images/s"));
        Console.WriteLine(string.Create(c, $"  arena         {arena / 1048576.0,10:F1} MiB (activations)"));
        Console.WriteLine(string.Create(c, $"  peak memory   {peakBytes / 1048576.0,10:F1} MiB (process peak working set)"));
    }

    /// <summary>The network alone, step by step: W untimed forward passes, then K profiled ones.</summary>
    private static void Layers(ModelDescription description, IReadOnlyDictionary<string, Ssd.Weights.Tensors.TensorData> tensors, DetectorBackend kind,
        IReadOnlyList<RgbImage> images, int warmup, int iterations, long arena, double? givenPeak, bool json)
    {
        using var backend = CreateBackend(kind);
        using var network = SsdNetwork.Load(description, tensors, backend, batch: images.Count);
        var input = new float[network.Plan.Input.Count];
        int per = input.Length / images.Count;
        var preprocessor = new HostPreprocessor(description.Input);
        for (int i = 0; i < images.Count; i++) preprocessor.Run(images[i], input.AsSpan(i * per, per));
        for (int i = 0; i < warmup; i++) network.Forward(input);
        var walls = new List<double>();
        network.Profiling = true;
        for (int i = 0; i < iterations; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            network.Forward(input);
            walls.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        var timings = network.LayerTimings;
        var measured = givenPeak is null ? FmaPeak.Measure() : null;
        double peak = givenPeak ?? measured?.Gflops ?? double.NaN;
        string peakSource = givenPeak is not null ? "given" : measured is { } m ? $"measured: {m.Source}" : "no FMA";
        double totalMs = timings.Sum(t => t.Milliseconds), totalFlops = timings.Sum(t => t.Flops);
        double convMs = timings.Where(t => t.Flops > 0).Sum(t => t.Milliseconds);
        long peakBytes = PeakWorkingSet();
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                model = description.Name, backend = backend.Description, batch = images.Count, iterations, peak_gflops = peak,
                peak_source = peakSource, cpu = MachineInfo.Description, forward_ms = Median(walls), layers_ms = totalMs, conv_ms = convMs,
                gflop = totalFlops / 1e9, arena_bytes = arena, peak_working_set_bytes = peakBytes,
                layers = timings.Select(t => new
                {
                    layer = t.Step.Layer, op = t.Op, shape = t.Step.Output.Shape, gflop = t.Flops / 1e9, ms = t.Milliseconds,
                    gflops = t.GflopsPerSecond, percent_of_peak = 100 * t.GflopsPerSecond / peak,
                }),
            }));
            return;
        }
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(c, $"{description.Name} on {backend.Description}, batch {images.Count}, network only, mean of {iterations} profiled runs"));
        Console.WriteLine(string.Create(c, $"{MachineInfo.Description}: FP32 peak {peak:F1} GFLOP/s ({(givenPeak is null ? peakSource : "--peak")}); GFLOP counts the direct convolution (Winograd layers can exceed 100%)"));
        Console.WriteLine();
        Console.WriteLine("| layer | op | output shape | GFLOP | ms | GFLOP/s | % peak |");
        Console.WriteLine("|---|---|---|---:|---:|---:|---:|");
        foreach (var t in timings)
        {
            string rate = t.Flops > 0 ? string.Create(c, $"{t.GflopsPerSecond:F1} | {100 * t.GflopsPerSecond / peak:F0}%") : "- | -";
            Console.WriteLine(string.Create(c, $"| {t.Step.Layer} | {t.Op} | {string.Join("x", t.Step.Output.Shape)} | {t.Flops / 1e9:F3} | {t.Milliseconds:F3} | {rate} |"));
        }
        double totalRate = totalFlops / (totalMs * 1e6);
        Console.WriteLine(string.Create(c, $"| **total** | {timings.Count} steps | | {totalFlops / 1e9:F2} | {totalMs:F1} | {totalRate:F1} | {100 * totalRate / peak:F0}% |"));
        Console.WriteLine();
        Console.WriteLine(string.Create(c, $"convolutions {convMs:F1} ms, other steps {totalMs - convMs:F1} ms; whole forward (median, incl. input upload and output download) {Median(walls):F1} ms"));
        Console.WriteLine(string.Create(c, $"arena {arena / 1048576.0:F1} MiB (activations); peak memory {peakBytes / 1048576.0:F1} MiB (process peak working set)"));
    }

    private static Ssd.Engine.Backends.IBackend CreateBackend(DetectorBackend kind)
    {
        try { return BackendFactory.Create(kind); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw CliException.Model($"cannot start the {DetectorBackendNames.Name(kind)} backend: {e.Message}", e);
        }
    }

    /// <summary>A deterministic gradient-and-noise picture, so a benchmark (or a test) needs no image file.</summary>
    public static RgbImage Synthetic(int width, int height, int seed = 1)
    {
        var pixels = new byte[width * height * 3];
        var rng = new Random(seed);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int ch = 0; ch < 3; ch++)
                    pixels[(y * width + x) * 3 + ch] = (byte)((x * (ch + 1) + y * (3 - ch)) / 4 + rng.Next(32));
        return new RgbImage(width, height, pixels);
    }
}
