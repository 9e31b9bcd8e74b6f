using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;
using OpenCvSharp.Dnn;
using Ssd.Engine.Backends;
using Ssd.Engine.Detection;
using Ssd.Engine.Imaging;
using Ssd.Engine.Network;
using Ssd.Weights.Model;
using Ssd.Weights.Torch;

namespace Ssd.Bench;

/// <summary>One benchmark case set up: Run does one timed invocation (a forward pass, a batch end to end, ...).</summary>
public interface IPeerRunner : IDisposable
{
    void Run();

    /// <summary>A line for the log: what runs, on what, and any check made at setup.</summary>
    string Describe();
}

public static class PeerRunners
{
    public const string Python = "/usr/bin/python3";
    public const int Threads = 2;

    public static IPeerRunner Create(PeerCase c) => (c.Peer, c.Scope) switch
    {
        (_, "convert") => new ConvertRunner(c.Model),
        ("ours-cpu" or "ours-cuda", _) => new OursRunner(c),
        ("onnxruntime", "net") => new OnnxRuntimeRunner(c.Batch),
        ("opencv", _) => new OpenCvRunner(c),
        ("pytorch", _) => new TorchRunner(c),
        _ => throw new ArgumentException($"no runner for {c}"),
    };

    /// <summary>Our converted models, converted once per process and shared by the cases.</summary>
    private static readonly Dictionary<string, ConversionResult> converted = [];

    public static ConversionResult Convert(string model)
    {
        lock (converted)
        {
            if (!converted.TryGetValue(model, out var result))
                converted[model] = result = ConvertNow(model);
            return result;
        }
    }

    /// <summary>What `ssd convert` does, in memory: the torchvision state_dict, or the Caffe prototxt + caffemodel with
    /// the VOC mean (as the acceptance tests convert them).</summary>
    public static ConversionResult ConvertNow(string model)
    {
        string folder = PeerFiles.FolderOf(model);
        return model == "ssd300-tv"
            ? TorchConverter.Convert(TorchCheckpoint.Load(PeerFiles.Fixture(folder, "model.pth")))
            : CaffeConverter.Convert(PeerFiles.Fixture(folder, "deploy.prototxt"), PeerFiles.Fixture(folder, "model.caffemodel"),
                new ConversionOptions { Mean = [104f, 117f, 123f] });
    }

    /// <summary>The fixture's pre-processed input ([1, 3, H, W]) repeated batch times.</summary>
    public static float[] Input(string model, int batch)
    {
        var one = PeerFiles.Floats(PeerFiles.Fixture(PeerFiles.FolderOf(model), "input.bin"));
        var all = new float[one.Length * batch];
        for (int i = 0; i < batch; i++) one.CopyTo(all, i * one.Length);
        return all;
    }
}

/// <summary>Reading a peer checkpoint and converting it to our model description and tensors.</summary>
internal sealed class ConvertRunner(string model) : IPeerRunner
{
    public void Run() => PeerRunners.ConvertNow(model);
    public string Describe() => $"converts the {model} checkpoint in memory (reading included, writing the model file not)";
    public void Dispose() { }
}

/// <summary>
/// Ours. net: SsdNetwork.Forward on the fixture's pre-processed input (upload, every layer, loc / conf download).
/// e2e: SsdDetector.Detect on the decoded photo (host pre-process, network, the flavour's post-processing).
/// </summary>
internal sealed class OursRunner : IPeerRunner
{
    private readonly IBackend? backend;
    private readonly SsdNetwork? network;
    private readonly SsdDetector? detector;
    private readonly float[] input = [];
    private readonly RgbImage[] photos = [];
    private readonly string description;

    public OursRunner(PeerCase c)
    {
        var model = PeerRunners.Convert(c.Model);
        var kind = c.Peer == "ours-cuda" ? DetectorBackend.Cuda : DetectorBackend.Cpu;
        if (c.Scope == "net")
        {
            backend = BackendFactory.Create(kind);
            network = SsdNetwork.Load(model.Description, model.Tensors, backend, batch: c.Batch);
            input = PeerRunners.Input(c.Model, c.Batch);
            description = $"{backend.Description}, network only, arena {network.ArenaBytes / 1048576.0:F1} MiB";
        }
        else
        {
            detector = SsdDetector.Create(model.Description, model.Tensors, new SsdDetectorOptions { Backend = kind, MaxBatch = c.Batch });
            photos = Enumerable.Repeat(PeerFiles.RgbPhoto(c.Model), c.Batch).ToArray();
            description = $"{kind} backend, end to end from the {photos[0].Width}x{photos[0].Height} photo";
        }
    }

    public void Run()
    {
        if (network is not null) network.Forward(input);
        else detector!.Detect(photos);
    }

    public string Describe() => description;

    public void Dispose()
    {
        network?.Dispose();
        backend?.Dispose();
        detector?.Dispose();
    }
}

/// <summary>
/// ONNX Runtime on tools/bench/export_onnx.py's export of the torchvision network (input tensor -> raw head
/// outputs): CPU execution provider, 2 intra-op threads, all graph optimisations. Setup checks the batch-1 class
/// logits against the fixture's (PyTorch's own output).
/// </summary>
internal sealed class OnnxRuntimeRunner : IPeerRunner
{
    private readonly InferenceSession session;
    private readonly OrtValue inputValue;
    private readonly string[] inputNames = ["input"], outputNames = ["bbox_regression", "cls_logits"];
    private readonly string check;

    public OnnxRuntimeRunner(int batch)
    {
        using var options = new SessionOptions
        {
            IntraOpNumThreads = PeerRunners.Threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        session = new InferenceSession(PeerFiles.Onnx, options);
        inputValue = OrtValue.CreateTensorValueFromMemory(PeerRunners.Input("ssd300-tv", batch), [batch, 3, 300, 300]);
        using var outputs = session.Run(new RunOptions(), inputNames, [inputValue], outputNames);
        var logits = outputs[1].GetTensorDataAsSpan<float>();
        var expected = PeerFiles.Floats(PeerFiles.Fixture("torchvision_ssd300", "cls_logits.bin"));
        float worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = MathF.Max(worst, MathF.Abs(logits[i] - expected[i]));
        check = $"ONNX Runtime {OrtEnv.Instance().GetVersionString()}, CPU, {PeerRunners.Threads} threads; class logits vs PyTorch's: max |diff| {worst:G3}";
        if (worst > 1e-2f) throw new InvalidDataException($"the ONNX model does not reproduce PyTorch's class logits (max |diff| {worst}): re-run tools/bench/export_onnx.py");
    }

    public void Run()
    {
        using var outputs = session.Run(new RunOptions(), inputNames, [inputValue], outputNames);
    }

    public string Describe() => check;

    public void Dispose()
    {
        inputValue.Dispose();
        session.Dispose();
    }
}

/// <summary>
/// OpenCV DNN (OpenCvSharp4) on the Caffe prototxt and caffemodel themselves: OpenCV backend, CPU target, 2 threads.
/// net: the fixture's pre-processed input set as "data", forward to mbox_loc and mbox_conf_flatten (softmax included,
/// DetectionOutput not run). e2e: blobFromImages on the decoded BGR photo (resize, mean) and forward to detection_out
/// (decode + NMS inside OpenCV).
/// </summary>
internal sealed class OpenCvRunner : IPeerRunner
{
    private readonly Net net;
    private readonly Mat? blob;
    private readonly Mat[] photos = [];
    private readonly int size;

    public OpenCvRunner(PeerCase c)
    {
        Cv2.SetNumThreads(PeerRunners.Threads);
        string folder = PeerFiles.FolderOf(c.Model);
        net = CvDnn.ReadNetFromCaffe(PeerFiles.Fixture(folder, "deploy.prototxt"), PeerFiles.Fixture(folder, "model.caffemodel"))
            ?? throw new InvalidDataException($"OpenCV could not read the {c.Model} Caffe model");
        net.SetPreferableBackend(Backend.OPENCV);
        net.SetPreferableTarget(Target.CPU);
        size = c.Model.StartsWith("ssd512", StringComparison.Ordinal) ? 512 : 300;
        if (c.Scope == "net")
            blob = Mat.FromPixelData([c.Batch, 3, size, size], MatType.CV_32FC1, PeerRunners.Input(c.Model, c.Batch));
        else
        {
            var (pixels, w, h) = PeerFiles.Photo(c.Model);
            photos = Enumerable.Range(0, c.Batch).Select(_ => Mat.FromPixelData(h, w, MatType.CV_8UC3, pixels)).ToArray();
        }
    }

    public void Run()
    {
        if (blob is not null)
        {
            net.SetInput(blob, "data");
            var outputs = new[] { new Mat(), new Mat() };
            net.Forward(outputs, ["mbox_loc", "mbox_conf_flatten"]);
            foreach (var m in outputs) m.Dispose();
        }
        else
        {
            using var input = CvDnn.BlobFromImages(photos, 1.0, new Size(size, size), new Scalar(104, 117, 123), swapRB: false, crop: false);
            net.SetInput(input, "data");
            using var detections = net.Forward("detection_out");
        }
    }

    public string Describe() => $"OpenCV {Cv2.GetVersionString()} DNN, backend OpenCV, target CPU, {Cv2.GetNumThreads()} threads";

    public void Dispose()
    {
        blob?.Dispose();
        foreach (var p in photos) p.Dispose();
        net.Dispose();
    }
}

/// <summary>
/// PyTorch 1.13 through a runner script of tools/bench (torch_ssd.py for the peer cases), one process per case kept
/// alive between invocations: each invocation writes one command line and waits for "ok" (tools/bench/line_protocol.py;
/// the round trip's cost is the "ipc" / "ping" row).
/// </summary>
internal sealed class TorchRunner : IPeerRunner
{
    private readonly Process process;
    private readonly string command, script;

    public TorchRunner(PeerCase c)
        : this("torch_ssd.py", c.Scope switch { "net" => $"net {c.Batch}", "e2e" => $"e2e {c.Batch}", "ipc" => "ping", _ => throw new ArgumentException($"pytorch: no scope {c.Scope}") })
    {
    }

    public TorchRunner(string script, string command)
    {
        (this.script, this.command) = (script, command);
        var start = new ProcessStartInfo(PeerRunners.Python, Path.Combine(PeerFiles.Root, "tools", "bench", script))
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = false, UseShellExecute = false,
        };
        process = Process.Start(start) ?? throw new InvalidOperationException("could not start " + PeerRunners.Python);
        var ready = process.StandardOutput.ReadLine();
        if (ready != "ready") throw new InvalidOperationException($"tools/bench/{script} did not start: '{ready}'");
    }

    public void Run()
    {
        process.StandardInput.WriteLine(command);
        process.StandardInput.Flush();
        var reply = process.StandardOutput.ReadLine();
        if (reply != "ok") throw new InvalidOperationException($"{script} answered '{reply}' to '{command}'");
    }

    public string Describe() => $"PyTorch (Debian python3-torch) via tools/bench/{script}, '{command}', 2 threads";

    public void Dispose()
    {
        try
        {
            process.StandardInput.WriteLine("quit");
            process.StandardInput.Flush();
            if (!process.WaitForExit(10_000)) process.Kill();
        }
        finally { process.Dispose(); }
    }
}
