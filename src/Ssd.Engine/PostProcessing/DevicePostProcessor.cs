using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.BoxCoding;
using Ssd.Kernels.Core;
using Ssd.Kernels.Detect;
using Ssd.Weights.Model;

namespace Ssd.Engine.PostProcessing;

/// <summary>
/// The flavour's post-processing on the network's device (<see cref="DetectOp"/>): loc / conf never leave it; one
/// download brings back the compact per-image result, and the host only scales the boxes to original pixels (in
/// float32 exactly as the flavour's host post-processor does). Gives the same detections, in the same order, as
/// <see cref="PostProcessorFactory"/>'s host post-processor, bit for bit: decoding and softmax run the same float32
/// operations with glibc's expf algorithm (<see cref="LibmExp"/>, what MathF.Exp is on Linux), and the ranking, NMS
/// and merge encode each flavour's comparisons and tie orders exactly. (On a CUDA GPU the driver's compiler may fuse
/// a multiply and an add into one FMA, which can change a last bit; PoCL and the CPU simulator do not.)
/// </summary>
public sealed class DevicePostProcessor : IDisposable
{
    private readonly ComputeDevice device;
    private readonly AcceleratorStream stream;
    private readonly DetectOp op;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> priors;
    private readonly int numPriors;
    private readonly bool torchvisionScale;
    private readonly ImageSize resized;
    private MemoryBuffer1D<float, Stride1D.Dense>? result;
    private float[] host = [];

    /// <summary>For a converted model, on a backend's device and stream.</summary>
    /// <param name="priors">The priors in the flavour's layout (as for <see cref="PostProcessorFactory.Create"/>).</param>
    public DevicePostProcessor(DeviceStream device, ModelDescription model, float[] priors, float? confidenceThreshold = null)
        : this(device.Device, device.Stream, ConfigFor(model, confidenceThreshold), priors)
    {
    }

    /// <summary>
    /// For explicit settings (<see cref="ConfigFor(ModelFlavor, PostProcessParams, float[], ImageSize)"/>); the work is
    /// queued on <paramref name="stream"/>. Priors: Caffe [2, P*4]; ssd.pytorch [P, 4] centre form; torchvision [P, 4]
    /// xyxy pixels of the resized image (ClipWidth x ClipHeight).
    /// </summary>
    public DevicePostProcessor(ComputeDevice device, AcceleratorStream stream, DetectConfig config, float[] priors)
    {
        (this.device, this.stream) = (device, stream);
        int floatsPerPrior = config.Flavor == DetectFlavor.Caffe ? 8 : 4;
        numPriors = priors.Length / floatsPerPrior;
        if (numPriors == 0 || priors.Length != numPriors * floatsPerPrior)
            throw new ArgumentException($"device post-processing: {priors.Length} prior floats are not P x {floatsPerPrior} ({config.Flavor} layout)");
        config.Shape(1, numPriors); // checks the settings now
        torchvisionScale = config.Flavor == DetectFlavor.Torchvision;
        resized = new ImageSize((int)config.ClipWidth, (int)config.ClipHeight);
        op = new DetectOp(device, config);
        this.priors = device.Accelerator.Allocate1D(priors);
    }

    public DetectConfig Config => op.Config;

    /// <summary>Whether a batch of <paramref name="images"/> fits the device limits (else the host post-processes).</summary>
    public bool Fits(int images) => op.Config.Fits(images, numPriors);

    /// <summary>
    /// The model's post-processing settings in device form. Throws NotSupportedException / ArgumentException for a
    /// model the device path does not take (the detector then keeps the host post-processor).
    /// </summary>
    public static DetectConfig ConfigFor(ModelDescription model, float? confidenceThreshold = null)
    {
        var spec = model.PostProcess;
        if (!spec.ShareLocation || spec.CodeType != "CENTER_SIZE")
            throw new NotSupportedException($"{model.Name}: only share_location CENTER_SIZE decoding is supported");
        var parameters = new PostProcessParams(spec.NumClasses, spec.BackgroundId, confidenceThreshold ?? spec.ConfidenceThreshold,
            spec.NmsThreshold, spec.TopK, spec.KeepTopK, model.Outputs.ConfIsProbability);
        return ConfigFor(spec.Style, parameters, spec.Variances, new ImageSize(model.Input.Width, model.Input.Height));
    }

    /// <summary>
    /// The device settings that match a host post-processor built from the same arguments (variances as there:
    /// ssd.pytorch 2 or 4 values, torchvision 4 whose inverses are the box-coder weights; <paramref name="resized"/>
    /// is torchvision's network input size).
    /// </summary>
    public static DetectConfig ConfigFor(ModelFlavor style, PostProcessParams p, float[]? variances, ImageSize resized)
    {
        var flavor = style switch
        {
            ModelFlavor.Caffe => DetectFlavor.Caffe,
            ModelFlavor.SsdPytorch => DetectFlavor.SsdPytorch,
            ModelFlavor.Torchvision => DetectFlavor.Torchvision,
            _ => throw new ArgumentException($"device post-processing: unknown style {style}"),
        };
        var config = new DetectConfig(flavor, p.NumClasses, p.BackgroundId, p.ConfidenceThreshold, p.NmsThreshold, p.TopK, p.KeepTopK, p.ConfIsProbability);
        if (flavor == DetectFlavor.SsdPytorch)
        {
            var (v0, v1) = PostProcessInputs.SsdPytorchVariances(variances, "device post-processing");
            config = config with { Variance0 = v0, Variance1 = v1 };
        }
        else if (flavor == DetectFlavor.Torchvision)
        {
            PostProcessInputs.CheckSize(resized, "device post-processing");
            var w = PostProcessInputs.BoxCoderWeights(variances, "device post-processing");
            config = config with
            {
                Weights = new DecodeWeights(w.X, w.Y, w.W, w.H, BoxCodingReference.TorchvisionClip),
                ClipWidth = resized.Width,
                ClipHeight = resized.Height,
            };
        }
        return config;
    }

    /// <summary>
    /// Post-processes loc [N, P*4] and conf [N, P*C] that are on the backend's device (queued on its stream), then
    /// downloads the result once. Boxes are in original pixels as the host post-processor gives them.
    /// </summary>
    public IReadOnlyList<PostDetection>[] Run(ArrayView<float> loc, ArrayView<float> conf, IReadOnlyList<ImageSize> originalSizes)
    {
        int n = originalSizes.Count;
        foreach (var size in originalSizes) PostProcessInputs.CheckSize(size, "device post-processing");
        var shape = op.Config.Shape(n, numPriors);
        long floats = (long)n * shape.Stride;
        if (result is null || result.Length < floats)
        {
            stream.Synchronize();
            result?.Dispose();
            result = device.Accelerator.Allocate1D<float>(floats);
            host = new float[floats];
        }
        var view = result.View.SubView(0, floats);
        op.Run(priors.View, loc, conf, n, view, stream);
        view.CopyToCPU(stream, host.AsSpan(0, (int)floats));
        stream.Synchronize();

        var frame = DetectOp.Read(host.AsSpan(0, (int)floats), shape);
        var detections = new IReadOnlyList<PostDetection>[n];
        for (int i = 0; i < n; i++)
        {
            var (sx, sy) = Scale(originalSizes[i]);
            detections[i] = Array.ConvertAll(frame[i], d => new PostDetection(d.Class, d.Score, d.X1 * sx, d.Y1 * sy, d.X2 * sx, d.Y2 * sy));
        }
        return detections;
    }

    /// <summary>
    /// The factors the host post-processors multiply boxes by: the original size (Caffe, ssd.pytorch decode in
    /// [0, 1]); torchvision's resize_boxes ratio original / resized, divided in float32.
    /// </summary>
    private (float X, float Y) Scale(ImageSize size) => torchvisionScale
        ? ((float)size.Width / resized.Width, (float)size.Height / resized.Height)
        : (size.Width, size.Height);

    public void Dispose()
    {
        stream.Synchronize();
        op.Dispose();
        priors.Dispose();
        result?.Dispose();
    }
}
