namespace Ssd.Engine.Detection;

/// <summary>How <see cref="SsdDetector.Load"/> sets up a detector.</summary>
public sealed record SsdDetectorOptions
{
    public DetectorBackend Backend { get; init; } = DetectorBackend.Auto;

    /// <summary>Network input size: null keeps the model's; a fixed width x height, or <see cref="Detection.InputSize.Native"/>
    /// for each image's own size. Sizes other than the model's need a fully convolutional (Caffe) model.</summary>
    public InputSize? InputSize { get; init; }

    /// <summary>Replaces the model's confidence threshold when set.</summary>
    public float? ConfidenceThreshold { get; init; }

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
