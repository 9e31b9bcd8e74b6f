using ILGPU;
using ILGPU.Runtime;
using Ssd.Engine.Backends.Ilgpu;
using Ssd.Kernels.BoxCoding;
using Ssd.Kernels.Detect;
using Ssd.Weights.Model;

namespace Ssd.Engine.PostProcessing;

/// <summary>
/// The flavour's post-processing on the network's device (<see cref="DetectOp"/>): loc / conf never leave it; one
/// download brings back the compact per-image result, and the host only scales the boxes to original pixels (in
/// float32 exactly as the flavour's host post-processor does). Gives the same detections, in the same order, as
/// <see cref="PostProcessorFactory"/>'s host post-processor: the ranking, NMS and merge are exact; decoding and
/// softmax run the same float32 operations, with the device's exp (which may differ from .NET's in the last bit).
/// </summary>
public sealed class DevicePostProcessor : IDisposable
{
    private readonly IlgpuBackend backend;
    private readonly DetectOp op;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> priors;
    private readonly int numPriors;
    private readonly ModelFlavor flavor;
    private readonly ImageSize resized;
    private MemoryBuffer1D<float, Stride1D.Dense>? result;
    private float[] host = [];

    /// <param name="priors">The priors in the flavour's layout (as for <see cref="PostProcessorFactory.Create"/>).</param>
    public DevicePostProcessor(IlgpuBackend backend, ModelDescription model, float[] priors, float? confidenceThreshold = null)
    {
        this.backend = backend;
        var config = ConfigFor(model, confidenceThreshold);
        flavor = model.PostProcess.Style;
        numPriors = priors.Length / (flavor == ModelFlavor.Caffe ? 8 : 4);
        if (numPriors == 0 || priors.Length != numPriors * (flavor == ModelFlavor.Caffe ? 8 : 4))
            throw new ArgumentException($"{model.Name}: {priors.Length} prior floats do not fit the {flavor} layout");
        config.Shape(1, numPriors); // checks the settings now
        resized = new ImageSize(model.Input.Width, model.Input.Height);
        op = new DetectOp(backend.Device, config);
        this.priors = backend.Device.Accelerator.Allocate1D(priors);
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
        var flavor = spec.Style switch
        {
            ModelFlavor.Caffe => DetectFlavor.Caffe,
            ModelFlavor.SsdPytorch => DetectFlavor.SsdPytorch,
            ModelFlavor.Torchvision => DetectFlavor.Torchvision,
            _ => throw new ArgumentException($"{model.Name}: unknown post-processing style {spec.Style}"),
        };
        var config = new DetectConfig(flavor, spec.NumClasses, spec.BackgroundId, confidenceThreshold ?? spec.ConfidenceThreshold,
            spec.NmsThreshold, spec.TopK, spec.KeepTopK, model.Outputs.ConfIsProbability);
        if (flavor == DetectFlavor.SsdPytorch)
        {
            var (v0, v1) = PostProcessInputs.SsdPytorchVariances(spec.Variances, $"{model.Name} post-processing");
            config = config with { Variance0 = v0, Variance1 = v1 };
        }
        else if (flavor == DetectFlavor.Torchvision)
        {
            var w = PostProcessInputs.BoxCoderWeights(spec.Variances, $"{model.Name} post-processing");
            config = config with
            {
                Weights = new DecodeWeights(w.X, w.Y, w.W, w.H, BoxCodingReference.TorchvisionClip),
                ClipWidth = model.Input.Width,
                ClipHeight = model.Input.Height,
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
            backend.Stream.Synchronize();
            result?.Dispose();
            result = backend.Device.Accelerator.Allocate1D<float>(floats);
            host = new float[floats];
        }
        var view = result.View.SubView(0, floats);
        op.Run(priors.View, loc, conf, n, view, backend.Stream);
        view.CopyToCPU(backend.Stream, host.AsSpan(0, (int)floats));
        backend.Stream.Synchronize();

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
    private (float X, float Y) Scale(ImageSize size) => flavor == ModelFlavor.Torchvision
        ? ((float)size.Width / resized.Width, (float)size.Height / resized.Height)
        : (size.Width, size.Height);

    public void Dispose()
    {
        backend.Stream.Synchronize();
        op.Dispose();
        priors.Dispose();
        result?.Dispose();
    }
}
