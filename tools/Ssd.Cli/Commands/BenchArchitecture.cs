using System.Diagnostics;
using System.Globalization;
using System.Text;
using ILGPU.Runtime.Cuda;
using Ssd.Engine.Backends;
using Ssd.Engine.Backends.Ilgpu;
using Ssd.Engine.Detection;
using Ssd.Engine.Graph;
using Ssd.Engine.Imaging;
using Ssd.Engine.Training.Init;
using Ssd.Kernels.Cpu;
using Ssd.Kernels.Ptx;
using Ssd.Kernels.Roofline;
using Ssd.Weights.IO;
using Ssd.Weights.Model;
using Ssd.Weights.Model.Architecture;

namespace Ssd.Cli.Commands;

/// <summary>
/// `ssd bench --arch ssd300-vgg16|ssd512-vgg16`: the network built from the vocabulary (<see cref="VggSsd.Create"/>,
/// Caffe's VOC layout: 21 classes, DetectionOutput top_k 400, keep_top_k 200) with seeded weights
/// (<see cref="WeightInit"/>, Caffe's rules), so timing needs no checkpoint. Each batch size in --batches is timed as the
/// detector runs it (pre-process, network, post-process; the whole batch on the device on an ILGPU backend) and printed
/// with the roofline prediction beside it: <see cref="GpuRooflineReport.Predict"/> on the GPU's numbers (the H200's when
/// the device is one, else the H100's) and the registers and shared memory of a PTX resource report (`ssd ptx
/// --report`; default docs/kernels/ptx-report.md), for SSD300 or SSD512 (the workload's convolutions are the plan's:
/// BenchCommandTests checks them). --results writes the table as Markdown, naming the machine, the device and its driver.
/// </summary>
public static class BenchArchitecture
{
    public sealed record Settings(string Arch, IReadOnlyList<int> Batches, DetectorBackend Backend, int Warmup, int Iterations,
        int WidthDivisor, ulong Seed, bool Tf32, bool Graphs, string? Results, string? PtxReport, string? Note);

    private sealed record Row(int Batch, double PreMs, double NetworkMs, double PostMs, double LatencyMs, NetworkPrediction Predicted)
    {
        public double ImagesPerSecond => Batch * 1000.0 / LatencyMs;
    }

    public static readonly string[] Names = ["ssd300-vgg16", "ssd512-vgg16"];

    public static int SizeOf(string arch) => arch switch
    {
        "ssd300-vgg16" => 300,
        "ssd512-vgg16" => 512,
        _ => throw CliException.Usage($"--arch: '{arch}' is not one of {string.Join(", ", Names)}"),
    };

    /// <summary>The untrained VOC SSD of <paramref name="size"/> with every tensor drawn from Caffe's initialisers under <paramref name="seed"/>.</summary>
    public static ConversionResult Build(int size, int widthDivisor, ulong seed)
    {
        var created = VggSsd.Create(ModelFlavor.Caffe, size, numClasses: 21, widthDivisor);
        var weights = ModelWeights.From(created.Tensors);
        WeightInit.Initialize(ModelFlavor.Caffe, weights, seed);
        return created with { Tensors = weights.ToTensors() };
    }

    public static int Run(Settings s, Func<int, IReadOnlyList<RgbImage>> images)
    {
        int size = SizeOf(s.Arch);
        if (s.Results is not null) OutputPaths.CheckFile(s.Results, "--results", s.PtxReport is null ? [] : [s.PtxReport]);
        var (resources, resourceSource) = Resources(s.PtxReport);
        var model = Build(size, s.WidthDivisor, s.Seed);
        string device = "", gpuName = "";
        // One detector (one device, one kernel cache) for every batch size: it keeps a network per batch size.
        var options = new SsdDetectorOptions { Backend = s.Backend, MaxBatch = s.Batches.Max(), AllowTf32 = s.Tf32, CudaGraphs = s.Graphs };
        SsdDetector detector;
        try
        {
            detector = SsdDetector.Create(model.Description, model.Tensors, options, () =>
            {
                var backend = BackendFactory.Create(s.Backend, new Ssd.Kernels.Core.DeviceOptions(s.Tf32, s.Graphs));
                (device, gpuName) = Describe(backend);
                return backend;
            });
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw CliException.Model($"cannot run {s.Arch} on the {DetectorBackendNames.Name(s.Backend)} backend: {e.Message}", e);
        }
        // The GPU's numbers: the H200's on an H200, else the H100's (the backend is known once the detector has made it).
        GpuSpec Gpu() => gpuName.Contains("H200", StringComparison.OrdinalIgnoreCase) ? GpuSpec.H200 : GpuSpec.H100;
        var rows = new List<Row>();
        using (detector)
        {
            foreach (int batch in s.Batches)
            {
                var input = images(batch);
                for (int i = 0; i < s.Warmup; i++) detector.Detect(input);
                var runs = new List<(DetectorTimings Stages, double Wall)>();
                for (int i = 0; i < s.Iterations; i++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    detector.Detect(input);
                    runs.Add((detector.LastTimings, Stopwatch.GetElapsedTime(t0).TotalMilliseconds));
                }
                var predicted = GpuRooflineReport.Predict(batch, s.Tf32, s.Graphs, Gpu(), resources, size);
                var row = new Row(batch, Median(runs.Select(r => r.Stages.Preprocess.TotalMilliseconds)), Median(runs.Select(r => r.Stages.Network.TotalMilliseconds)),
                    Median(runs.Select(r => r.Stages.Postprocess.TotalMilliseconds)), Median(runs.Select(r => r.Wall)), predicted);
                rows.Add(row);
                Console.WriteLine(Line(row));
            }
        }
        var markdown = Markdown(s, device, rows, Gpu(), resourceSource);
        if (s.Results is not null)
        {
            AtomicFile.WriteAllText(s.Results, markdown);
            Console.WriteLine($"wrote {Path.GetFullPath(s.Results)}");
        }
        else Console.Write(markdown);
        return ExitCodes.Ok;
    }

    /// <summary>The registers and shared memory the prediction needs, from a PTX resource report (sm_90 rows).</summary>
    private static (IReadOnlyDictionary<string, KernelResources>, string) Resources(string? given)
    {
        var path = given ?? Ptxas.RepositoryRoots().Select(r => Path.Combine(r, "docs", "kernels", "ptx-report.md")).FirstOrDefault(File.Exists)
            ?? throw CliException.Usage("--ptx-report: no docs/kernels/ptx-report.md above this program or the current folder; pass the report `ssd ptx --report` wrote");
        ModelFiles.CheckPath(path, "PTX report");
        try
        {
            var resources = PtxReport.ParseResources(File.ReadAllText(path), GpuArch.Sm90);
            // The prediction needs every kernel the workload launches; a stale report says which is missing.
            _ = GpuRooflineReport.Predict(1, false, false, GpuSpec.H100, resources);
            return (resources, Path.GetFullPath(path));
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException)
        {
            throw CliException.Model($"{path}: {e.Message}", e);
        }
    }

    /// <summary>The backend's description and, for CUDA, the GPU's name, architecture and driver.</summary>
    private static (string Description, string GpuName) Describe(IBackend backend)
    {
        if (backend is IlgpuBackend { ComputeDevice.Accelerator: CudaAccelerator cuda })
            return ($"{backend.Description}, {cuda.Architecture}, CUDA driver {cuda.DriverVersion}, {cuda.MemorySize / (1L << 30)} GiB", cuda.Name);
        return (backend.Description, "");
    }

    private static double Median(IEnumerable<double> xs) { var a = xs.OrderBy(x => x).ToArray(); return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2; }

    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    private static string Line(Row r) => string.Create(C, $"batch {r.Batch,3}: {r.ImagesPerSecond,9:F1} img/s measured ({r.LatencyMs:F2} ms per batch, network {r.NetworkMs:F2} ms)")
        + FormattableString.Invariant($"; predicted {r.Predicted.ImagesPerSecond:F0} img/s ({r.Predicted.Seconds * 1e3:F2} ms network + post-processing)");

    private static string Markdown(Settings s, string device, IReadOnlyList<Row> rows, GpuSpec gpu, string resourceSource)
    {
        var sb = new StringBuilder();
        string precision = s.Tf32 ? "TF32 (opt-in)" : "FP32";
        sb.AppendLine(string.Create(C, $"# ssd bench --arch {s.Arch}: measured beside the roofline prediction"));
        sb.AppendLine();
        sb.AppendLine(string.Create(C, $"- date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC"));
        sb.AppendLine($"- machine: {MachineInfo.Description}");
        sb.AppendLine($"- backend: {device}");
        sb.AppendLine($"- network: {s.Arch}, Caffe VOC layout (21 classes), seeded weights (WeightInit, Caffe rules, seed {s.Seed})"
            + (s.WidthDivisor > 1 ? $", channels divided by {s.WidthDivisor} (a dry run: not the network the prediction is for)" : ""));
        sb.AppendLine(string.Create(C, $"- precision {precision}; CUDA graph replay {(s.Graphs ? "on" : "off")}; {s.Warmup} warm-up runs, median of {s.Iterations}; a synthetic 640x480 image"));
        if (s.Note is not null) sb.AppendLine($"- {s.Note}");
        sb.AppendLine($"- prediction: GpuRooflineReport.Predict for {gpu.Name} ({precision}, graphs {(s.Graphs ? "on" : "off")}), resources from {resourceSource} (sm_90); "
            + "it covers the network and the device DetectionOutput, not pre-processing or the upload");
        sb.AppendLine();
        sb.AppendLine("| batch | measured img/s | latency ms / batch | pre-process ms | network ms | post-process ms | predicted img/s | predicted ms | measured / predicted |");
        sb.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            var p = r.Predicted;
            string predicted = FormattableString.Invariant($"{p.ImagesPerSecond:F0} | {p.Seconds * 1e3:F2} | {r.ImagesPerSecond / p.ImagesPerSecond:P1}");
            sb.AppendLine(string.Create(C, $"| {r.Batch} | {r.ImagesPerSecond:F1} | {r.LatencyMs:F2} | {r.PreMs:F2} | {r.NetworkMs:F2} | {r.PostMs:F2} | {predicted} |"));
        }
        return sb.ToString();
    }
}
