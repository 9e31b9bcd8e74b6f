using Ssd.Kernels.BoxCoding;

namespace Ssd.Kernels.Detect;

/// <summary>
/// One flavour's detection-output settings. TopK: candidates per class (-1: all, Caffe only); KeepTopK: detections
/// per image after NMS (0 or negative: no cap; ssd.pytorch never caps over classes). Variance0/1: ssd.pytorch's
/// decode; Weights: torchvision's box coder; ClipWidth/ClipHeight: the resized image torchvision clips boxes to.
/// </summary>
public sealed record DetectConfig(DetectFlavor Flavor, int NumClasses, int Background, float ScoreThreshold, float IouThreshold,
    int TopK, int KeepTopK, bool ConfIsProbability)
{
    public float Variance0 { get; init; } = 0.1f;
    public float Variance1 { get; init; } = 0.2f;
    public DecodeWeights Weights { get; init; } = DecodeWeights.Ssd;
    public float ClipWidth { get; init; } = 300f;
    public float ClipHeight { get; init; } = 300f;

    /// <summary>The IoU bitmask may take at most this many bytes (top_k -1 over many priors would need more).</summary>
    public const long MaxMaskBytes = 256L << 20;

    /// <summary>The kernel shape for a batch of <paramref name="images"/> over <paramref name="priors"/> priors; checks every limit.</summary>
    public DetectShape Shape(int images, int priors)
    {
        if (images <= 0) throw new ArgumentException($"detect: {images} images");
        if (priors <= 0) throw new ArgumentException($"detect: {priors} priors");
        if (NumClasses < 2) throw new ArgumentException($"detect: {NumClasses} classes; need the background and at least one more");
        if (Background < 0 || Background >= NumClasses) throw new ArgumentException($"detect: background {Background} is not one of {NumClasses} classes");
        if (float.IsNaN(ScoreThreshold) || float.IsNaN(IouThreshold)) throw new ArgumentException("detect: thresholds must not be NaN");
        if (TopK == 0 || TopK < -1 || (TopK == -1 && Flavor != DetectFlavor.Caffe)) throw new ArgumentException($"detect: top_k {TopK} must be positive (or -1 for Caffe)");
        int k = TopK < 0 ? priors : Math.Min(TopK, priors), words = (k + 31) / 32;
        long perImage = (long)(NumClasses - 1) * k, segments = (long)images * (NumClasses - 1);
        int itemBits = DetectKey.BitsFor(priors), mergeBits = DetectKey.BitsFor((int)Math.Min(perImage, int.MaxValue));
        if (itemBits > 31 || segments >= 1L << (32 - itemBits)) throw new ArgumentException($"detect: {segments} image-class segments of {priors} priors do not fit a 64-bit sort key");
        if (mergeBits > 31 || images >= 1L << (32 - mergeBits)) throw new ArgumentException($"detect: {images} images of {perImage} candidates do not fit a 64-bit sort key");
        if (segments * priors > 1 << 30) throw new ArgumentException($"detect: {segments} segments x {priors} priors is too many for one sort");
        if (segments * k * words * 4 > MaxMaskBytes) throw new ArgumentException($"detect: the IoU mask of {segments} segments x {k} candidates would exceed {MaxMaskBytes >> 20} MiB");
        int capacity = Flavor != DetectFlavor.SsdPytorch && KeepTopK > 0 ? (int)Math.Min(KeepTopK, perImage) : (int)perImage;
        return new DetectShape(images, priors, NumClasses, Background, k, words, ScoreThreshold, IouThreshold, (int)Flavor, itemBits, mergeBits, capacity);
    }

    /// <summary>Whether <see cref="Shape"/> accepts this batch (the caller keeps the host path otherwise).</summary>
    public bool Fits(int images, int priors)
    {
        try { Shape(images, priors); return true; }
        catch (ArgumentException) { return false; }
    }
}
