using Ssd.Engine.Imaging;
using Ssd.Kernels.Core;
using Ssd.Kernels.Preprocess;

namespace Ssd.Engine.Backends;

/// <summary>
/// Where a network runs: memory (<see cref="DeviceBuffer"/>s), copies to and from it, and the context its op
/// executors run in. Backends do not list ops: every network step gets its executor from the op registry
/// (<see cref="OpRegistry"/>), which asks the step's op family for the variant of this backend's <see cref="Target"/>.
/// One backend serves any number of networks (batch sizes, input sizes): each network allocates its own arena here.
/// Work may be queued asynchronously: only Download (and Synchronize) wait.
/// </summary>
public interface IBackend : IDisposable
{
    /// <summary>A one-line description, e.g. "cpu (managed SIMD)" or "ilgpu OpenCL (pthread-...)".</summary>
    string Description { get; }

    /// <summary>Which op variants run here.</summary>
    OpTarget Target { get; }

    /// <summary>The ILGPU device and stream everything is queued on; null on the managed CPU backend (no device).</summary>
    DeviceStream? Device { get; }

    /// <summary>
    /// Whether a batch runs best image by image through a batch-1 network: on the managed CPU backend every op is
    /// already parallel within one image, so a batch gains nothing from running whole, and its activations (eight
    /// times an image's at batch 8) would outgrow the caches and, in training, the memory. Devices run batches whole.
    /// </summary>
    bool RunsImageByImage { get; }

    /// <summary>Allocates a buffer of <paramref name="floats"/> floats (contents undefined).</summary>
    DeviceBuffer Allocate(long floats);

    /// <summary>The context the executors of one network run in: this backend and that network's arena.</summary>
    OpContext Context(DeviceBuffer arena);

    /// <summary>Copies host floats into the slice (queued; the source may be reused at once). Lengths must match.</summary>
    void Upload(ReadOnlySpan<float> source, DeviceSlice destination);

    /// <summary>Waits for the queued work, then copies the slice to the host.</summary>
    void Download(DeviceSlice source, Span<float> destination);

    /// <summary>Waits until all queued work has finished.</summary>
    void Synchronize();

    /// <summary>
    /// Pre-processes a batch (resize, channel order, range, mean/std) straight into <paramref name="destination"/>,
    /// a network's input [N, 3, H, W], as <paramref name="settings"/> say; bit for bit <see cref="PreprocessReference"/>.
    /// </summary>
    void Preprocess(IReadOnlyList<RgbImage> images, PreprocessSettings settings, DeviceSlice destination);

    /// <summary>The default boxes for one input size, computed where the backend runs and kept there (the device
    /// post-processing reads them in place). Layout as <see cref="Network.PriorBoxes"/>: Caffe boxes then variances.</summary>
    DeviceBuffer Priors(Network.PriorRequest request);
}
