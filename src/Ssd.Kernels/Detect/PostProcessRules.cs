using Ssd.Kernels.BoxCoding;
using Ssd.Weights.Model;

namespace Ssd.Kernels.Detect;

/// <summary>
/// The numbers every flavour needs. TopK is the per-class candidate cap (Caffe top_k, ssd.pytorch top_k,
/// torchvision topk_candidates; -1: none); KeepTopK the per-image cap after NMS (Caffe keep_top_k, torchvision
/// detections_per_img; 0 or negative = none, as Caffe's -1). ConfIsProbability: Conf already went through softmax.
/// </summary>
public sealed record PostProcessParams(int NumClasses, int BackgroundId, float ConfidenceThreshold, float NmsThreshold,
    int TopK, int KeepTopK, bool ConfIsProbability)
{
    internal void Validate(int numPriors, string who)
    {
        if (NumClasses < 2) throw new ArgumentException($"{who}: {NumClasses} classes; need the background and at least one more");
        if (BackgroundId < 0 || BackgroundId >= NumClasses) throw new ArgumentException($"{who}: background id {BackgroundId} is not one of {NumClasses} classes");
        if (float.IsNaN(ConfidenceThreshold) || float.IsNaN(NmsThreshold)) throw new ArgumentException($"{who}: thresholds must not be NaN");
        if (TopK == 0 || TopK < -1) throw new ArgumentException($"{who}: top_k {TopK} must be positive (or -1 for no cap)");
        if (numPriors <= 0) throw new ArgumentException($"{who}: no priors");
    }
}

/// <summary>
/// One SSD post-processing as a record of rules: what the one algorithm, on the host (the engine's PostProcessor)
/// and on the device (<see cref="DetectOp"/>), does with a batch's loc [N, P, 4] and conf [N, P, C]. Per image:
/// 1. class probabilities: conf, or its softmax per prior unless ConfIsProbability;
/// 2. per class c != background: the priors scoring &gt; ConfidenceThreshold, best first, equal scores the lower
///    prior first (the higher with <see cref="HigherPriorFirst"/>), the first TopK (-1: all);
/// 3. their boxes by <see cref="Decoder"/>'s formula and prior layout (Caffe [2, P*4]: corners, then per-prior
///    variances; ssd.pytorch [P, 4] centre form, Variance0 / Variance1; torchvision [P, 4] xyxy in frame pixels,
///    Weights), clipped to [0, FrameWidth] x [0, FrameHeight] when <see cref="Clip"/>;
/// 4. greedy NMS in that order at NmsThreshold by <see cref="Iou"/>'s rule (<see cref="Nms.Iou"/>); with
///    <see cref="CoordinateTrick"/> (torchvision's batched_nms on the CPU) and at most 1000 candidates in the image,
///    class c's boxes are first shifted by c x (max coordinate + 1) in float32, whose rounding can decide an IoU;
/// 5. the kept boxes of every class best first, equal scores in class order, then NMS order; the first KeepTopK
///    (&lt;= 0: all);
/// 6. boxes scaled to the original image by (original / frame) per axis, in float32.
/// <see cref="For"/> gives each flavour's rules; the per-flavour references (Engine PostProcessing/Reference) are
/// their specification.
/// </summary>
public sealed record PostProcessRules(PostProcessParams Params, ModelFlavor Decoder, ModelFlavor Iou)
{
    /** <summary>Equal scores take the higher prior first (step 2; ssd.pytorch).</summary> */ public bool HigherPriorFirst { get; init; }
    /** <summary>Decoded boxes are clipped to the frame (step 3; torchvision).</summary> */ public bool Clip { get; init; }
    /** <summary>batched_nms's coordinate trick (step 4; torchvision).</summary> */ public bool CoordinateTrick { get; init; }
    /// <summary>The frame the decoded boxes are in: 1 x 1 for normalised boxes, else the network input in pixels.</summary>
    public int FrameWidth { get; init; } = 1;
    /** <summary>The frame's height (see <see cref="FrameWidth"/>).</summary> */ public int FrameHeight { get; init; } = 1;
    /** <summary>ssd.pytorch's centre variance.</summary> */ public float Variance0 { get; init; } = 0.1f;
    /** <summary>ssd.pytorch's size variance.</summary> */ public float Variance1 { get; init; } = 0.2f;
    /** <summary>torchvision's box coder weights.</summary> */ public DecodeWeights Weights { get; init; } = DecodeWeights.Ssd;

    /// <summary>torchvision's batched_nms takes the coordinate trick up to this many boxes on the CPU (4000 coordinates).</summary>
    public const int CoordinateTrickLimit = 1000;

    /// <summary>
    /// The coordinate trick's step for an image with this many candidate boxes, whose largest coordinate is given:
    /// class c's boxes are shifted by c x (max + 1) when there are 1 to <see cref="CoordinateTrickLimit"/>; else 0, no
    /// shift. Host and device both take it from here.
    /// </summary>
    public static float CoordinateTrickStep(int boxes, float max) => boxes > 0 && boxes <= CoordinateTrickLimit ? max + 1f : 0f;

    /// <summary>The IoU bitmask of the device path may take at most this many bytes (top_k -1 over many priors would need more).</summary>
    internal const long MaxMaskBytes = 256L << 20;

    /// <summary>
    /// A flavour's rules. Variances as the model gives them: Caffe's are in its priors; ssd.pytorch takes 2 (or
    /// Caffe-style 4, the first and third used); torchvision 4, whose inverses are its box coder's weights.
    /// <paramref name="inputWidth"/> x <paramref name="inputHeight"/>: the network input (torchvision's frame).
    /// </summary>
    public static PostProcessRules For(ModelFlavor flavor, PostProcessParams p, float[]? variances, int inputWidth, int inputHeight)
    {
        if (flavor != ModelFlavor.Caffe && p.TopK <= 0) throw new ArgumentException($"{flavor} post-processing: top_k {p.TopK} must be positive");
        switch (flavor)
        {
            case ModelFlavor.Caffe:
                return new PostProcessRules(p, flavor, flavor);
            case ModelFlavor.SsdPytorch:
                var (center, size) = SsdPytorchVariances(variances);
                // No cap over classes: upstream's final "fill_(0)" writes into a copy.
                return new PostProcessRules(p with { KeepTopK = 0 }, flavor, flavor) { HigherPriorFirst = true, Variance0 = center, Variance1 = size };
            case ModelFlavor.Torchvision:
                if (inputWidth <= 0 || inputHeight <= 0) throw new ArgumentException($"torchvision post-processing: input size {inputWidth}x{inputHeight} is not positive");
                return new PostProcessRules(p, flavor, flavor)
                    { Clip = true, CoordinateTrick = true, FrameWidth = inputWidth, FrameHeight = inputHeight, Weights = BoxCoderWeights(variances) };
            default:
                throw new ArgumentException($"post-processing: unknown flavour {flavor}");
        }
    }

    /// <summary>
    /// torchvision's BoxCoder weights from centre-size variances (0.1, 0.2 -> 10, 5): SSD's BoxCoder(weights=(10.0,
    /// 10.0, 5.0, 5.0)) holds python floats that are used as float32 divisors.
    /// </summary>
    internal static DecodeWeights BoxCoderWeights(float[]? variances)
    {
        variances ??= [0.1f, 0.1f, 0.2f, 0.2f];
        if (variances.Length != 4 || variances.Any(v => !(v > 0))) throw new ArgumentException("torchvision post-processing: need 4 positive variances");
        return new DecodeWeights((float)(1.0 / variances[0]), (float)(1.0 / variances[1]), (float)(1.0 / variances[2]), (float)(1.0 / variances[3]),
            BoxCodingReference.TorchvisionClip);
    }

    /// <summary>ssd.pytorch's cfg['variance'] pair: [0.1, 0.2], or Caffe-style 4 values whose first and third are used.</summary>
    internal static (float Center, float Size) SsdPytorchVariances(float[]? variances) => variances switch
    {
        null => (0.1f, 0.2f),
        { Length: 2 } => (variances[0], variances[1]),
        { Length: 4 } => (variances[0], variances[2]),
        _ => throw new ArgumentException($"ssd.pytorch post-processing: {variances.Length} variances; expected 2 or 4"),
    };

    /// <summary>Floats per prior in the decoder's layout (Caffe's priors carry their variances).</summary>
    public int PriorFloats => Decoder == ModelFlavor.Caffe ? 8 : 4;

    /// <summary>The number of priors in a prior array of this layout; checks it and the rules.</summary>
    internal int PriorCount(int floats, string who)
    {
        if (floats == 0 || floats % PriorFloats != 0) throw new ArgumentException($"{who}: {floats} prior floats are not P x {PriorFloats} ({Decoder} layout)");
        Params.Validate(floats / PriorFloats, who);
        if (FrameWidth <= 0 || FrameHeight <= 0) throw new ArgumentException($"{who}: frame {FrameWidth}x{FrameHeight} is not positive");
        // Per-class NMS over shifted boxes is torchvision's one NMS over all only when no shifted classes overlap.
        if (CoordinateTrick && !Clip) throw new ArgumentException($"{who}: the coordinate trick needs boxes clipped to the frame");
        return floats / PriorFloats;
    }

    /// <summary>The factors a box is multiplied by for an image of width x height: (original / frame), in float32.</summary>
    internal (float X, float Y) Scale(int width, int height) => ((float)width / FrameWidth, (float)height / FrameHeight);

    /// <summary>The device kernels' shape for a batch of <paramref name="images"/> over <paramref name="priors"/> priors; checks every limit.</summary>
    internal DetectShape Shape(int images, int priors)
    {
        var p = Params;
        if (images <= 0) throw new ArgumentException($"detect: {images} images");
        p.Validate(priors, "detect");
        int k = p.TopK < 0 ? priors : Math.Min(p.TopK, priors), words = (k + 31) / 32;
        long perImage = (long)(p.NumClasses - 1) * k, segments = (long)images * (p.NumClasses - 1);
        int itemBits = DetectKey.BitsFor(priors), mergeBits = DetectKey.BitsFor((int)Math.Min(perImage, int.MaxValue));
        if (itemBits > 31 || segments >= 1L << (32 - itemBits)) throw new ArgumentException($"detect: {segments} image-class segments of {priors} priors do not fit a 64-bit sort key");
        if (mergeBits > 31 || images >= 1L << (32 - mergeBits)) throw new ArgumentException($"detect: {images} images of {perImage} candidates do not fit a 64-bit sort key");
        if (segments * priors > 1 << 30) throw new ArgumentException($"detect: {segments} segments x {priors} priors is too many for one sort");
        if (segments * k * words * 4 > MaxMaskBytes) throw new ArgumentException($"detect: the IoU mask of {segments} segments x {k} candidates would exceed {MaxMaskBytes >> 20} MiB");
        int capacity = p.KeepTopK > 0 ? (int)Math.Min(p.KeepTopK, perImage) : (int)perImage;
        return new DetectShape(images, priors, p.NumClasses, p.BackgroundId, k, words, p.ConfidenceThreshold, p.NmsThreshold,
            (int)Iou, HigherPriorFirst ? 1 : 0, CoordinateTrick ? 1 : 0, itemBits, mergeBits, capacity);
    }

    /// <summary>Whether <see cref="Shape"/> accepts this batch (the caller keeps the host path otherwise).</summary>
    internal bool Fits(int images, int priors)
    {
        try { Shape(images, priors); return true; }
        catch (ArgumentException) { return false; }
    }
}
