using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using ILGPU;
using ILGPU.Runtime;
using Ssd.Engine.PostProcessing;
using Ssd.Kernels.BoxCoding;
using Ssd.Kernels.Core;
using Ssd.Kernels.Preprocess;
using Ssd.Kernels.Priors;
using Ssd.Weights.Model;

namespace Ssd.Bench;

/// <summary>
/// The detector's stages around the network, each on the host (its plain reference, what the CPU backend runs) and on
/// the ILGPU device (CUDA when present, else OpenCL/PoCL, else the CPU simulator; SSD_BACKEND chooses), at SSD300 size:
/// priors for one input size (three flavours), box decoding of 8732 priors, the device post-processing (decode,
/// softmax, per-class top-k, NMS, merge and one download; the dense "thousands" case of PostProcessBenchmarks), and
/// pre-processing of a 640x480 photo to 300x300 (OpenCV INTER_LINEAR and torch bilinear).
/// Run: dotnet run -c Release --project bench/Ssd.Bench -- --filter '*StageBenchmarks*'
/// </summary>
[Config(typeof(Config))]
public class StageBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance));
    }

    private const int Classes = 91, Width = 640, Height = 480;
    private static readonly (int, int)[] Grids = TorchvisionPriorConfig.Ssd300Grids.Select(g => (g, g)).ToArray();

    private ComputeDevice device = null!;
    private PriorOp priorOp = null!;
    private PreprocessOp preprocessOp = null!;
    private DensePostProcessInput input = null!;
    private float[] decoded = null!, preprocessed = null!;
    private byte[] photo = null!;
    private MemoryBuffer1D<byte, Stride1D.Dense> photoOnDevice = null!;
    private MemoryBuffer1D<float, Stride1D.Dense> network = null!, anchors = null!, loc = null!, logits = null!;
    private DevicePostProcessor detect = null!;
    private readonly ImageSize[] sizes = [new(Width, Height)];
    private PreprocessSettings openCv = null!, torch = null!;

    [GlobalSetup]
    public void Setup()
    {
        var kind = Environment.GetEnvironmentVariable("SSD_BACKEND") is { Length: > 0 } name ? BackendKindNames.Parse(name) : BackendKind.Auto;
        device = ComputeDevice.Create(kind);
        Console.WriteLine($"// device: {device.Description}");
        priorOp = new PriorOp(device);
        preprocessOp = new PreprocessOp(device);
        input = DensePostProcessInput.Create(saturated: false, Classes, seed: 300);
        decoded = new float[input.Loc.Length];
        var rng = new Random(1);
        photo = new byte[Width * Height * 3];
        rng.NextBytes(photo);
        photoOnDevice = device.Accelerator.Allocate1D(photo);
        openCv = new PreprocessSettings { Width = 300, Height = 300, Resize = ResizeKind.OpenCvLinear, Bgr = true, Mean = [104f, 117f, 123f] };
        torch = new PreprocessSettings { Width = 300, Height = 300, Resize = ResizeKind.TorchBilinear, UnitRange = true, Mean = [0.485f, 0.456f, 0.406f], Std = [0.229f, 0.224f, 0.225f] };
        preprocessed = new float[openCv.OutputLength];
        network = device.Allocate(openCv.OutputLength);
        anchors = device.Upload(input.Anchors);
        loc = device.Upload(input.Loc);
        logits = device.Upload(input.Logits);
        var p = new PostProcessParams(Classes, 0, 0.01f, 0.45f, 400, 200, ConfIsProbability: false);
        detect = new DevicePostProcessor(device, device.Accelerator.DefaultStream,
            DevicePostProcessor.ConfigFor(ModelFlavor.Torchvision, p, [0.1f, 0.1f, 0.2f, 0.2f], new ImageSize(300, 300)), input.Anchors);
        // Load every kernel before measuring.
        CaffePriorsDevice(); SsdPytorchPriorsDevice(); TorchvisionPriorsDevice(); DetectOnDevice(); PreprocessOpenCvDevice(); PreprocessTorchDevice();
    }

    [Benchmark(Description = "priors caffe 8732 host")] public float CaffePriorsHost() => PriorReference.Caffe(CaffePriorConfig.Ssd300Voc)[0];
    [Benchmark(Description = "priors caffe 8732 device")] public long CaffePriorsDevice() { using var b = priorOp.Caffe(CaffePriorConfig.Ssd300Voc); return b.Length; }
    [Benchmark(Description = "priors ssd.pytorch 8732 host")] public float SsdPytorchPriorsHost() => PriorReference.SsdPytorch(SsdPytorchPriorConfig.Ssd300Voc)[0];
    [Benchmark(Description = "priors ssd.pytorch 8732 device")] public long SsdPytorchPriorsDevice() { using var b = priorOp.SsdPytorch(SsdPytorchPriorConfig.Ssd300Voc); return b.Length; }
    [Benchmark(Description = "priors torchvision 8732 host")] public float TorchvisionPriorsHost() => PriorReference.Torchvision(TorchvisionPriorConfig.Ssd300, Grids, 300, 300)[0];
    [Benchmark(Description = "priors torchvision 8732 device")] public long TorchvisionPriorsDevice() { using var b = priorOp.Torchvision(TorchvisionPriorConfig.Ssd300, Grids, 300, 300); return b.Length; }

    [Benchmark(Description = "decode caffe 8732 host")] public float DecodeCaffe() { BoxCodingReference.Caffe(input.CaffePriors, input.Loc, decoded); return decoded[0]; }
    [Benchmark(Description = "decode ssd.pytorch 8732 host")] public float DecodeSsdPytorch() { BoxCodingReference.SsdPytorch(input.CenterPriors, input.Loc, decoded); return decoded[0]; }
    [Benchmark(Description = "decode torchvision 8732 host")] public float DecodeTorchvision() { BoxCodingReference.Torchvision(input.Anchors, input.Loc, decoded); return decoded[0]; }

    [Benchmark(Description = "detect torchvision 8732x91 device (decode+softmax+NMS+download)")]
    public int DetectOnDevice() => detect.Run(loc.View, logits.View, sizes)[0].Count;

    [Benchmark(Description = "preprocess opencv 640x480->300 host")]
    public float PreprocessOpenCvHost() { PreprocessReference.Forward(photo, Width, Height, openCv, preprocessed); return preprocessed[0]; }
    [Benchmark(Description = "preprocess opencv 640x480->300 device")]
    public void PreprocessOpenCvDevice() { preprocessOp.Forward(photoOnDevice.View, Width, Height, openCv, network.View); device.Synchronize(); }
    [Benchmark(Description = "preprocess torch 640x480->300 host")]
    public float PreprocessTorchHost() { PreprocessReference.Forward(photo, Width, Height, torch, preprocessed); return preprocessed[0]; }
    [Benchmark(Description = "preprocess torch 640x480->300 device")]
    public void PreprocessTorchDevice() { preprocessOp.Forward(photoOnDevice.View, Width, Height, torch, network.View); device.Synchronize(); }

    [GlobalCleanup]
    public void Cleanup()
    {
        detect.Dispose();
        preprocessOp.Dispose();
        foreach (var b in new MemoryBuffer[] { photoOnDevice, network, anchors, loc, logits }) b.Dispose();
        device.Dispose();
    }
}
