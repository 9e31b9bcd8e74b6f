using Ssd.Weights.Model;

namespace Ssd.Engine.Training.Loss;

/// <summary>
/// Caffe's MultiBoxLossLayer as ssd_pascal.py configures it (weiliu89/caffe ssd branch: multibox_loss_layer.cpp,
/// bbox_util.cpp): share_location, match_type PER_PREDICTION, use_prior_for_matching, mining_type MAX_NEGATIVE,
/// conf SOFTMAX, loc SMOOTH_L1, code CENTER_SIZE with the variances in the prior blob, normalization VALID.
/// <list type="bullet">
/// <item>priors: the PriorBox blob [2, P*4], unclipped corners then variances; objects as fractions of the image;</item>
/// <item>matching: bipartite (distinct priors per object, by decreasing overlap), then per prior at IoU &gt;= 0.5;</item>
/// <item>targets: EncodeBBox, ((g_c - p_c) / p_w) / v0 and log(g_w / p_w) / v2;</item>
/// <item>mining: -log max(softmax(x)_0, FLT_MIN) over unmatched priors whose overlap is below 0.5, the
/// int(3 x positives) highest kept (at most all of them);</item>
/// <item>confidence: SoftmaxWithLoss, -log max(p, FLT_MIN), gradient p - onehot; N = max(1, matches). An image
/// without objects adds no positives and no negatives.</item>
/// </list>
/// </summary>
public sealed class CaffeMultiBoxLoss : MultiBoxLoss
{
    private readonly float[] corners, variances;

    /// <summary>The loss over a Caffe PriorBox blob.</summary>
    /// <param name="priorBlob">Caffe's prior blob: P corner boxes (x1, y1, x2, y2, normalised) followed by their P x 4 variances.</param>
    /// <param name="numClasses">The classes including the background, at least 2.</param>
    /// <param name="options">Thresholds and ratios (default: the paper's).</param>
    /// <exception cref="ArgumentException">The blob is empty or not a multiple of 8 floats, or there are fewer than 2 classes.</exception>
    public CaffeMultiBoxLoss(float[] priorBlob, int numClasses, MultiBoxLossOptions? options = null)
        : base(ModelFlavor.Caffe, CheckPriors(priorBlob), numClasses, options)
    {
        int half = priorBlob.Length / 2;
        corners = priorBlob[..half];
        variances = priorBlob[half..];
    }

    private static int CheckPriors(float[] blob)
    {
        ArgumentNullException.ThrowIfNull(blob);
        if (blob.Length == 0 || blob.Length % 8 != 0) throw new ArgumentException($"caffe loss: {blob.Length} prior floats is not 2 x P x 4");
        int p = blob.Length / 8;
        for (int i = 0; i < p; i++)
        {
            if (!(blob[4 * i + 2] > blob[4 * i] && blob[4 * i + 3] > blob[4 * i + 1])) throw new ArgumentException($"caffe loss: prior {i} has no area");
            for (int k = 0; k < 4; k++)
                if (!(blob[4 * p + 4 * i + k] > 0f)) throw new ArgumentException($"caffe loss: prior {i} has variance {blob[4 * p + 4 * i + k]} (must be positive)");
        }
        return p;
    }

    internal override PriorMatching Match(GroundTruth truth) => PriorMatcher.Bipartite(corners, truth, Options.OverlapThreshold);

    private protected override void Encode(int prior, ReadOnlySpan<float> box, Span<float> target)
    {
        var p = corners.AsSpan(4 * prior, 4);
        var v = variances.AsSpan(4 * prior, 4);
        float pw = p[2] - p[0], ph = p[3] - p[1];
        float pcx = (p[0] + p[2]) / 2f, pcy = (p[1] + p[3]) / 2f;
        float bw = box[2] - box[0], bh = box[3] - box[1];
        float bcx = (box[0] + box[2]) / 2f, bcy = (box[1] + box[3]) / 2f;
        target[0] = (bcx - pcx) / pw / v[0];
        target[1] = (bcy - pcy) / ph / v[1];
        target[2] = MathF.Log(bw / pw) / v[2];
        target[3] = MathF.Log(bh / ph) / v[3];
    }

    private protected override int MiningScores(ReadOnlySpan<float> logits, PriorMatching match, float batchValue, Span<float> scores, List<int> candidates)
    {
        int c = NumClasses, positives = 0;
        float negativeOverlap = Options.NegativeOverlap;
        for (int prior = 0; prior < NumPriors; prior++)
        {
            if (match.Object[prior] > -1) { positives++; continue; }
            if (!(match.Overlap[prior] < negativeOverlap)) continue;
            candidates.Add(prior);
            var row = logits.Slice(prior * c, c);
            var (max, sum) = LossTerms.SoftmaxStats(row);
            scores[prior] = LossTerms.ClampedCrossEntropy(row[0], max, sum);
        }
        return Math.Min((int)(positives * Options.NegativesPerPositive), candidates.Count);
    }

    private protected override double Normalizer(int positives) => Math.Max(1, positives);

    private protected override bool ClampsProbability => true;
}
