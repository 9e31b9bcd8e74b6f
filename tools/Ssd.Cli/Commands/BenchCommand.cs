using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Ssd.Cli.Imaging;
using Ssd.Engine.Detection;
using Ssd.Engine.Imaging;

namespace Ssd.Cli.Commands;

/// <summary>
/// `ssd bench --model M [--batch N] [--iterations K] [--warmup W] [--backend B] [--image F] [--json]`: times the
/// detector on one batch, K times after W warm-up runs, and prints per-stage medians (pre-process, network,
/// post-process), the median latency of a batch and the throughput in images per second.
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "a model file written by `ssd convert`", Required = true };
        var batch = new Option<int>("--batch") { Description = "images per forward pass", DefaultValueFactory = _ => 1 };
        var iterations = new Option<int>("--iterations") { Description = "timed runs", DefaultValueFactory = _ => 10 };
        var warmup = new Option<int>("--warmup") { Description = "untimed runs first (kernel loading, JIT)", DefaultValueFactory = _ => 2 };
        var backend = new Option<string>("--backend") { Description = "auto, cuda, opencl, cpu-sim or cpu", DefaultValueFactory = _ => "auto" };
        var image = new Option<string?>("--image") { Description = "an image to run on (default: a synthetic 640x480 image)" };
        var json = new Option<bool>("--json") { Description = "print the result as JSON" };
        var command = new Command("bench", "Time the detector: per-stage medians, latency and throughput.") { model, batch, iterations, warmup, backend, image, json };
        command.SetAction(parse =>
        {
            try
            {
                int n = parse.GetValue(batch), k = parse.GetValue(iterations), w = parse.GetValue(warmup);
                if (n <= 0 || k <= 0 || w < 0) throw new ArgumentException("--batch and --iterations must be positive, --warmup not negative");
                var options = new SsdDetectorOptions { Backend = DetectorBackendNames.Parse(parse.GetValue(backend)!), MaxBatch = n };
                var picture = parse.GetValue(image) is { } path ? ImageDecoder.Load(path) : Synthetic(640, 480);
                var images = Enumerable.Repeat(picture, n).ToList();
                using var detector = SsdDetector.Load(parse.GetValue(model)!, options);
                for (int i = 0; i < w; i++) detector.Detect(images);
                var runs = new List<(DetectorTimings Stages, TimeSpan Wall)>();
                for (int i = 0; i < k; i++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    detector.Detect(images);
                    runs.Add((detector.LastTimings, Stopwatch.GetElapsedTime(t0)));
                }
                Report(detector.Model.Name, options.Backend.ToString(), n, runs, parse.GetValue(json));
                return 0;
            }
            catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException or NotSupportedException or InvalidOperationException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    private static void Report(string model, string backend, int batch, List<(DetectorTimings Stages, TimeSpan Wall)> runs, bool json)
    {
        static double Median(IEnumerable<double> xs) { var a = xs.OrderBy(x => x).ToArray(); return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2; }
        double pre = Median(runs.Select(r => r.Stages.Preprocess.TotalMilliseconds));
        double net = Median(runs.Select(r => r.Stages.Network.TotalMilliseconds));
        double post = Median(runs.Select(r => r.Stages.Postprocess.TotalMilliseconds));
        double latency = Median(runs.Select(r => r.Wall.TotalMilliseconds));
        double throughput = batch * 1000.0 / latency;
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                model, backend, batch, iterations = runs.Count,
                preprocess_ms = pre, network_ms = net, postprocess_ms = post, latency_ms = latency, images_per_second = throughput,
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
    }

    /// <summary>A deterministic gradient-and-noise picture, so a benchmark needs no image file.</summary>
    private static RgbImage Synthetic(int width, int height)
    {
        var pixels = new byte[width * height * 3];
        var rng = new Random(1);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int ch = 0; ch < 3; ch++)
                    pixels[(y * width + x) * 3 + ch] = (byte)((x * (ch + 1) + y * (3 - ch)) / 4 + rng.Next(32));
        return new RgbImage(width, height, pixels);
    }
}
