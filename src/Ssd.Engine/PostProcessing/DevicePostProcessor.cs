using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;
using Ssd.Kernels.Detect;
using Ssd.Engine.Backends;

namespace Ssd.Engine.PostProcessing;

/// <summary>
/// The post-processing on the network's device (<see cref="DetectOp"/>): loc / conf never leave it; one download
/// brings back the compact per-image result, and the host only scales the boxes to original pixels. From the same
/// <see cref="PostProcessRules"/> it gives the same detections, in the same order, as <see cref="PostProcessor"/>,
/// bit for bit: decoding and softmax run the same float32 operations with glibc's expf algorithm
/// (<see cref="LibmExp"/>, what MathF.Exp is on Linux), and the ranking, NMS and merge encode the rules'
/// comparisons and tie orders exactly. (On a CUDA GPU the driver's compiler may fuse a multiply and an add into
/// one FMA, which can change a last bit; PoCL and the CPU simulator do not.)
/// </summary>
public sealed class DevicePostProcessor : IDisposable
{
    private readonly AcceleratorStream stream;
    private readonly DetectOp op;
    private readonly ArrayView<float> priors;
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? ownedPriors;
    private readonly int numPriors;

    /// <summary>On a backend's device and stream, reading the priors where the network computed them (device memory,
    /// not copied; it must outlive this post-processor).</summary>
    public DevicePostProcessor(DeviceStream device, PostProcessRules rules, DeviceSlice priors)
        : this(device.Device, device.Stream, rules, priors.View, null)
    {
    }

    /// <summary>The work is queued on <paramref name="stream"/>. Priors in the decoder's layout, as for <see cref="PostProcessor"/>; uploaded here.</summary>
    public DevicePostProcessor(ComputeDevice device, AcceleratorStream stream, PostProcessRules rules, float[] priors)
        : this(device, stream, rules, default, device.Accelerator.Allocate1D(priors))
    {
    }

    private DevicePostProcessor(ComputeDevice device, AcceleratorStream stream, PostProcessRules rules, ArrayView<float> priors,
        MemoryBuffer1D<float, Stride1D.Dense>? owned)
    {
        (this.stream, ownedPriors) = (stream, owned);
        this.priors = owned is null ? priors : owned.View;
        try
        {
            numPriors = rules.PriorCount(checked((int)this.priors.Length), "device post-processing");
            rules.Shape(1, numPriors); // checks the settings now
            op = new DetectOp(device, rules);
        }
        catch
        {
            owned?.Dispose();
            throw;
        }
    }

    /// <summary>The rules this post-processor follows.</summary>
    public PostProcessRules Rules => op.Rules;

    /// <summary>
    /// Post-processes loc [N, P*4] and conf [N, P*C] that are on the backend's device (queued on its stream), then
    /// downloads the result once. Boxes are in original pixels as the host post-processor gives them.
    /// </summary>
    public IReadOnlyList<PostDetection>[] Run(ArrayView<float> loc, ArrayView<float> conf, IReadOnlyList<ImageSize> originalSizes)
    {
        int n = originalSizes.Count;
        foreach (var size in originalSizes) PostProcessInputs.CheckSize(size, "device post-processing");
        var (shape, host) = op.Run(priors, loc, conf, n, stream);
        var detections = new IReadOnlyList<PostDetection>[n];
        for (int i = 0; i < n; i++)
        {
            var r = host.AsSpan(i * shape.Stride, shape.Stride);
            int count = (int)r[0];
            if (count < 0 || count > shape.Capacity) throw new InvalidDataException($"detect: image {i} reports {r[0]} detections (capacity {shape.Capacity})");
            var (sx, sy) = Rules.Scale(originalSizes[i].Width, originalSizes[i].Height);
            var d = new PostDetection[count];
            for (int j = 0, o = 1; j < count; j++, o += DetectKey.DetectionFloats)
                d[j] = new PostDetection((int)r[o], r[o + 1], r[o + 2] * sx, r[o + 3] * sy, r[o + 4] * sx, r[o + 5] * sy);
            detections[i] = d;
        }
        return detections;
    }

    /// <summary>Frees the device buffers.</summary>
    public void Dispose()
    {
        stream.Synchronize();
        op.Dispose();
        ownedPriors?.Dispose();
    }
}
