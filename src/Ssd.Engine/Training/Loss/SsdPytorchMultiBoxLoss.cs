using Ssd.Weights.Model;

namespace Ssd.Engine.Training.Loss;

/// <summary>
/// ssd.pytorch's MultiBoxLoss with its match (amdegroot/ssd.pytorch layers/modules/multibox_loss.py,
/// layers/box_utils.py):
/// <list type="bullet">
/// <item>priors: [P, 4] (cx, cy, w, h) clamped to [0, 1], matched in point form; objects as fractions of the image;</item>
/// <item>matching: best object per prior at IoU &gt;= 0.5, each object's best prior forced (the later object wins a
/// shared prior);</item>
/// <item>targets: encode with variances 0.1 (centre, divided by 0.1 w) and 0.2 (log size ratio);</item>
/// <item>mining: log_sum_exp(x) - x_0 with the batch-global maximum as the shift (so a row far below it underflows
/// to -inf and ranks last), positives at 0 and included in the ranking, k = min(3 x positives, P - 1), the kept set
/// OR-ed with the positives;</item>
/// <item>N = the batch's positives. Where ssd.pytorch divides by zero (a batch without objects: NaN) this takes
/// N = 1, so the loss and its gradient are 0. An image without objects (ssd.pytorch's match crashes on it) has
/// all priors background and no negatives.</item>
/// </list>
/// </summary>
public sealed class SsdPytorchMultiBoxLoss : MultiBoxLoss
{
    private readonly float[] priors, pointForm;
    private readonly float centerVariance, sizeVariance;

    /// <summary>The loss over ssd.pytorch's priors.</summary>
    /// <param name="priors">P centre-form priors (cx, cy, w, h, normalised), as ssd.pytorch's PriorBox gives them.</param>
    /// <param name="numClasses">The classes including the background, at least 2.</param>
    /// <param name="options">Thresholds and ratios (default: the paper's).</param>
    /// <exception cref="ArgumentException">The priors are empty or not a multiple of 4 floats, or there are fewer than 2 classes.</exception>
    public SsdPytorchMultiBoxLoss(float[] priors, int numClasses, MultiBoxLossOptions? options = null)
        : base(ModelFlavor.SsdPytorch, CheckPriors(priors), numClasses, options)
    {
        this.priors = priors;
        pointForm = new float[priors.Length];
        for (int i = 0; i < priors.Length; i += 4)
        {
            // point_form: (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            float hw = priors[i + 2] / 2f, hh = priors[i + 3] / 2f;
            pointForm[i] = priors[i] - hw;
            pointForm[i + 1] = priors[i + 1] - hh;
            pointForm[i + 2] = priors[i] + hw;
            pointForm[i + 3] = priors[i + 1] + hh;
        }
        centerVariance = Options.Variances[0];
        sizeVariance = Options.Variances[2];
    }

    private static int CheckPriors(float[] priors)
    {
        ArgumentNullException.ThrowIfNull(priors);
        if (priors.Length == 0 || priors.Length % 4 != 0) throw new ArgumentException($"ssd.pytorch loss: {priors.Length} prior floats is not P x 4");
        for (int i = 0; i < priors.Length / 4; i++)
            if (!(priors[4 * i + 2] > 0f && priors[4 * i + 3] > 0f)) throw new ArgumentException($"ssd.pytorch loss: prior {i} has no area");
        return priors.Length / 4;
    }

    internal override PriorMatching Match(GroundTruth truth) => PriorMatcher.ForcedBestPrior(pointForm, truth, Options.OverlapThreshold);

    /// <summary>encode: ((m1 + m2) / 2 - c) / (0.1 wh), log((m2 - m1) / wh) / 0.2.</summary>
    private protected override void Encode(int prior, ReadOnlySpan<float> box, Span<float> target)
    {
        var p = priors.AsSpan(4 * prior, 4);
        target[0] = ((box[0] + box[2]) / 2f - p[0]) / (centerVariance * p[2]);
        target[1] = ((box[1] + box[3]) / 2f - p[1]) / (centerVariance * p[3]);
        target[2] = MathF.Log((box[2] - box[0]) / p[2]) / sizeVariance;
        target[3] = MathF.Log((box[3] - box[1]) / p[3]) / sizeVariance;
    }

    /// <summary>log_sum_exp's x_max: the largest logit of the whole batch.</summary>
    private protected override float PrepareBatch(ReadOnlySpan<float> conf)
    {
        float max = float.NegativeInfinity;
        foreach (float x in conf) max = MathF.Max(max, x);
        return max;
    }

    /// <summary>Its mining shifts by the batch's largest logit, so an image's loss needs the whole batch's outputs.</summary>
    internal override bool ImagesIndependent => false;

    private protected override int MiningScores(ReadOnlySpan<float> logits, PriorMatching match, float batchMax, Span<float> scores, List<int> candidates)
    {
        int c = NumClasses, positives = 0;
        for (int prior = 0; prior < NumPriors; prior++)
        {
            candidates.Add(prior);
            if (match.Object[prior] >= 0) { scores[prior] = 0f; positives++; continue; }
            var row = logits.Slice(prior * c, c);
            float sum = 0f;
            foreach (float x in row) sum += MathF.Exp(x - batchMax);
            scores[prior] = MathF.Log(sum) + batchMax - row[0];
        }
        return (int)Math.Min(NumPriors - 1, Math.Ceiling(Options.NegativesPerPositive * (double)positives));
    }

    private protected override double Normalizer(int positives) => Math.Max(1, positives);
}
