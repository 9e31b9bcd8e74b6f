using Microsoft.Extensions.Logging;

namespace Ssd.Engine.Detection;

/// <summary>How <see cref="SsdDetector.Load(string, SsdDetectorOptions?)"/> sets up a detector.</summary>
public sealed record SsdDetectorOptions
{
    /// <summary>Where the network runs (default: auto, a CUDA GPU when there is one, else the managed CPU backend).</summary>
    public DetectorBackend Backend { get; init; } = DetectorBackend.Auto;

    /// <summary>
    /// Which GPU: the index-th CUDA device (cuda, auto) or OpenCL device (opencl); null takes the first. With auto on a
    /// machine without CUDA the CPU backend is still used; an index the machine does not have is an error when the
    /// detector is created. Not for the cpu and cpu-sim backends.
    /// </summary>
    public int? GpuIndex { get; init; }

    /// <summary>
    /// The CPU backend: the most threads one layer (and the host post-processing) runs on; null: every core. Concurrent
    /// calls (<see cref="MaxConcurrency"/>) each use up to this many.
    /// </summary>
    public int? CpuThreads { get; init; }

    /// <summary>
    /// How many Detect calls may run at once. Each running call has its own set of networks (the CPU backend: an
    /// activation arena and the layers' packed weights per network, about as much memory again as one detector's
    /// networks; built when a call first needs them, so a detector called from one thread never builds a second set).
    /// Callers beyond the bound wait. On an ILGPU device calls take turns (one set of networks; the device runs one
    /// batch at a time), whatever this says.
    /// </summary>
    public int MaxConcurrency { get; init; } = DefaultMaxConcurrency;

    /// <summary>The default of <see cref="MaxConcurrency"/>.</summary>
    public const int DefaultMaxConcurrency = 2;

    /// <summary>Where the detector reports the model it loaded, the device it chose, each network it builds and each
    /// call's timings (Debug); null: nowhere (NullLogger).</summary>
    public ILogger? Logger { get; init; }

    /// <summary>Network input size: null keeps the model's; a fixed width x height, or <see cref="Engine.Detection.InputSize.Native"/>
    /// for each image's own size. Sizes other than the model's need a fully convolutional (Caffe) model.</summary>
    public InputSize? InputSize { get; init; }

    /// <summary>Replaces the model's confidence threshold when set (0 to 1); a call's <see cref="DetectOptions"/> can replace it again.</summary>
    public float? ConfidenceThreshold { get; init; }

    /// <summary>Replaces the model's NMS IoU threshold when set; see <see cref="DetectOptions.NmsThreshold"/>.</summary>
    public float? NmsThreshold { get; init; }

    /// <summary>At most this many detections per image; see <see cref="DetectOptions.MaxDetections"/>.</summary>
    public int? MaxDetections { get; init; }

    /// <summary>Only these class ids; see <see cref="DetectOptions.Classes"/>.</summary>
    public IReadOnlyCollection<int>? Classes { get; init; }

    /// <summary>
    /// On an ILGPU backend, pre-process on the device: one pixel upload per image, resized and normalised straight
    /// into the network input (bit-exact with the host reference). False keeps it on the host, as the CPU backend does.
    /// </summary>
    public bool PreprocessOnDevice { get; init; } = true;

    /// <summary>
    /// On an ILGPU backend, post-process on the device too: decoding, softmax, per-class ranking, NMS and the merge
    /// run there and one download brings back the detections (the same ones, in the same order, as the host
    /// post-processor). False downloads loc / conf and post-processes on the host, as the CPU backend does.
    /// </summary>
    public bool PostProcessOnDevice { get; init; } = true;

    /// <summary>
    /// On CUDA (sm_80 and later), let convolutions run on the TF32 tensor cores. Off by default: TF32 multiplies inputs
    /// rounded to a 10-bit mantissa, which moves scores by about 1e-3 and can change borderline detections
    /// (docs/kernels/gpu-roofline.md and bench/results/gpu-check.md give the measured difference).
    /// </summary>
    public bool AllowTf32 { get; init; }

    /// <summary>On CUDA, capture each network's launches into a CUDA graph once and replay it (one driver call per batch).</summary>
    public bool CudaGraphs { get; init; }

    /// <summary>Images per forward pass in Detect(list).</summary>
    public int MaxBatch { get; init; } = 8;

    /// <summary>The default of <see cref="MaxNetworks"/>.</summary>
    public const int DefaultMaxNetworks = 8;

    /// <summary>
    /// The most networks a detector keeps built (one per input size and batch size; each holds its activation arena and
    /// its layers' packed or uploaded weights): the least recently used one is freed to make room. A fixed input size
    /// needs at most one per batch size used (MaxBatch and the remainders); the native input size, one per image size
    /// (per batch size) seen, which this bound keeps from growing without limit.
    /// </summary>
    public int MaxNetworks { get; init; } = DefaultMaxNetworks;
}
