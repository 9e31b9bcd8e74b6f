using Ssd.Weights.Model;

namespace Ssd.Engine.Training.Loss;

/// <summary>
/// torchvision 0.14's SSD.compute_loss with its SSDMatcher (models/detection/ssd.py, _utils.py):
/// <list type="bullet">
/// <item>anchors: [P, 4] pixel corners of the network input; objects in the same pixels;</item>
/// <item>matching: best object per anchor at IoU &gt;= 0.5, then each object's best anchor forced (a scatter:
/// the later object wins a shared anchor);</item>
/// <item>targets: BoxCoder.encode_single with weights (10, 10, 5, 5);</item>
/// <item>mining: cross-entropy with positives set to -inf, the 3 x positives highest kept, not clamped: when
/// 4 x positives exceeds P the positives are picked too and their cross-entropy counts twice;</item>
/// <item>N = max(1, positives of the batch). An image without objects has all anchors background and no
/// negatives (torchvision's own rule).</item>
/// </list>
/// </summary>
public sealed class TorchvisionMultiBoxLoss : MultiBoxLoss
{
    private readonly float[] anchors;
    private readonly float wx, wy, ww, wh;

    /// <summary>The loss over torchvision's anchors.</summary>
    /// <param name="anchors">P corner anchors (x1, y1, x2, y2) in input pixels, as torchvision's DefaultBoxGenerator gives them.</param>
    /// <param name="numClasses">The classes including the background, at least 2.</param>
    /// <param name="options">Thresholds and ratios (default: the paper's).</param>
    /// <exception cref="ArgumentException">The anchors are empty or not a multiple of 4 floats, or there are fewer than 2 classes.</exception>
    public TorchvisionMultiBoxLoss(float[] anchors, int numClasses, MultiBoxLossOptions? options = null)
        : base(ModelFlavor.Torchvision, CheckPriors(anchors), numClasses, options)
    {
        this.anchors = anchors;
        var v = Options.Variances;
        (wx, wy, ww, wh) = (1f / v[0], 1f / v[1], 1f / v[2], 1f / v[3]);
    }

    private static int CheckPriors(float[] anchors)
    {
        ArgumentNullException.ThrowIfNull(anchors);
        if (anchors.Length == 0 || anchors.Length % 4 != 0) throw new ArgumentException($"torchvision loss: {anchors.Length} anchor floats is not P x 4");
        for (int i = 0; i < anchors.Length / 4; i++)
            if (!(anchors[4 * i + 2] > anchors[4 * i] && anchors[4 * i + 3] > anchors[4 * i + 1]))
                throw new ArgumentException($"torchvision loss: anchor {i} has no area");
        return anchors.Length / 4;
    }

    internal override PriorMatching Match(GroundTruth truth) => PriorMatcher.ForcedBestPrior(anchors, truth, Options.OverlapThreshold);

    /// <summary>encode_boxes: dx = wx (gt_cx - cx) / w, dw = ww log(gt_w / w), with cx = x1 + 0.5 w.</summary>
    private protected override void Encode(int prior, ReadOnlySpan<float> box, Span<float> target)
    {
        var a = anchors.AsSpan(4 * prior, 4);
        float exW = a[2] - a[0], exH = a[3] - a[1];
        float exCx = a[0] + 0.5f * exW, exCy = a[1] + 0.5f * exH;
        float gtW = box[2] - box[0], gtH = box[3] - box[1];
        float gtCx = box[0] + 0.5f * gtW, gtCy = box[1] + 0.5f * gtH;
        target[0] = wx * (gtCx - exCx) / exW;
        target[1] = wy * (gtCy - exCy) / exH;
        target[2] = ww * MathF.Log(gtW / exW);
        target[3] = wh * MathF.Log(gtH / exH);
    }

    private protected override int MiningScores(ReadOnlySpan<float> logits, PriorMatching match, float batchValue, Span<float> scores, List<int> candidates)
    {
        int c = NumClasses, positives = 0;
        for (int prior = 0; prior < NumPriors; prior++)
        {
            candidates.Add(prior);
            if (match.Object[prior] >= 0) { scores[prior] = float.NegativeInfinity; positives++; continue; }
            var row = logits.Slice(prior * c, c);
            var (max, sum) = LossTerms.SoftmaxStats(row);
            scores[prior] = LossTerms.CrossEntropy(row[0], max, sum);
        }
        // background_idxs = rank < ratio x positives: ceil(ratio x positives) anchors.
        return (int)Math.Min(NumPriors, Math.Ceiling(Options.NegativesPerPositive * (double)positives));
    }

    private protected override double Normalizer(int positives) => Math.Max(1, positives);

    private protected override bool CountsPositivesTwice => true;
}
