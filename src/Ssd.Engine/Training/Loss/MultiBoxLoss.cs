using Ssd.Kernels.Cpu;
using Ssd.Weights.Model;

namespace Ssd.Engine.Training.Loss;

/// <summary>Settings shared by the flavours' MultiBox losses (their defaults are the paper's).</summary>
public sealed record MultiBoxLossOptions
{
    /// <summary>A prior is positive when its best object overlaps it at least this much (besides forced matches).</summary>
    public float OverlapThreshold { get; init; } = 0.5f;

    /// <summary>Negatives kept per positive.</summary>
    public float NegativesPerPositive { get; init; } = 3f;

    /// <summary>Caffe: only priors overlapping every object less than this may be mined as negatives.</summary>
    public float NegativeOverlap { get; init; } = 0.5f;

    /// <summary>Alpha, the weight of the localisation term.</summary>
    public float LocWeight { get; init; } = 1f;

    /// <summary>
    /// Centre-size variances (x, y, w, h) of the ssd.pytorch encoding (it uses x and w: 0.1, 0.2); torchvision's box
    /// coder weights are their inverses (10, 10, 5, 5). Caffe reads its variances from the prior blob.
    /// </summary>
    public float[] Variances { get; init; } = [0.1f, 0.1f, 0.2f, 0.2f];

    /// <summary>Threads for the per-image work (null: all cores).</summary>
    public int? Threads { get; init; }
}

/// <summary>One image's share of a batch loss: its matches, mined negatives and unnormalised sums.</summary>
public readonly record struct ImageLoss(int Positives, int Negatives, double LocSum, double ConfSum)
{
    /// <summary>Whether both sums are finite.</summary>
    public bool IsFinite => double.IsFinite(LocSum) && double.IsFinite(ConfSum);
}

/// <summary>
/// A batch's MultiBox loss, normalised as the flavour does: Loss = LocLoss + ConfLoss, each divided by
/// <see cref="Normalizer"/> (N). Positives and Negatives are the batch totals.
/// </summary>
public sealed record MultiBoxLossResult(double Loss, double LocLoss, double ConfLoss, double Normalizer, int Positives, int Negatives, ImageLoss[] Images)
{
    /// <summary>Whether the loss and both its parts are finite.</summary>
    public bool IsFinite => double.IsFinite(Loss) && double.IsFinite(LocLoss) && double.IsFinite(ConfLoss);
}

/// <summary>
/// The MultiBox objective (Liu et al., eq. 1): L = (L_conf + alpha L_loc) / N over matched default boxes and
/// mined hard negatives, with its gradient. One pipeline, each flavour supplying its own rules:
/// <list type="number">
/// <item>match the priors of each image to its objects (<see cref="Match"/>); N follows from the matches;</item>
/// <item>localisation: smooth L1 between the predicted offsets and the encoded boxes, over the positives;</item>
/// <item>hard negative mining: rank the negatives by the flavour's score, keep k of them;</item>
/// <item>confidence: softmax cross-entropy over the positives (their class) and the kept negatives (background).</item>
/// </list>
/// Inputs are the network's outputs as the flavour lays them out, prior by prior: loc [N, P*4] and conf logits
/// [N, P*C]; the gradients d loss / d loc and d loss / d conf are written in the same layout (zero where a prior
/// takes no part). Images run in parallel.
/// </summary>
public abstract class MultiBoxLoss
{
    /// <summary>The flavour whose matching, mining and normalisation this loss follows.</summary>
    public ModelFlavor Flavor { get; }
    /// <summary>The default boxes per image, P.</summary>
    public int NumPriors { get; }
    /// <summary>The classes including the background, C.</summary>
    public int NumClasses { get; }
    /// <summary>The thresholds, ratio, weight and variances in use.</summary>
    public MultiBoxLossOptions Options { get; }

    private protected MultiBoxLoss(ModelFlavor flavor, int numPriors, int numClasses, MultiBoxLossOptions? options)
    {
        if (numPriors <= 0) throw new ArgumentException($"multibox loss: {numPriors} priors");
        if (numClasses < 2) throw new ArgumentException($"multibox loss: {numClasses} classes (the background and at least one object class)");
        Options = options ?? new MultiBoxLossOptions();
        if (!(Options.OverlapThreshold > 0f && Options.OverlapThreshold <= 1f)) throw new ArgumentException($"multibox loss: overlap threshold {Options.OverlapThreshold} is not in (0, 1]");
        if (!(Options.NegativesPerPositive >= 0f && float.IsFinite(Options.NegativesPerPositive))) throw new ArgumentException($"multibox loss: {Options.NegativesPerPositive} negatives per positive");
        if (!(Options.LocWeight >= 0f && float.IsFinite(Options.LocWeight))) throw new ArgumentException($"multibox loss: loc weight {Options.LocWeight}");
        if (Options.Variances is not { Length: 4 } v || !v.All(x => x > 0f && float.IsFinite(x))) throw new ArgumentException("multibox loss: variances need 4 positive values");
        Flavor = flavor;
        NumPriors = numPriors;
        NumClasses = numClasses;
    }

    /// <summary>
    /// The flavour's loss on the priors as the engine computes them (src/Ssd.Kernels/Priors): torchvision
    /// [P, 4] pixel corners (its DefaultBoxGenerator's anchors), ssd.pytorch [P, 4] clamped (cx, cy, w, h), Caffe
    /// [2, P*4] unclipped corners then variances.
    /// </summary>
    public static MultiBoxLoss Create(ModelFlavor flavor, float[] priors, int numClasses, MultiBoxLossOptions? options = null) => flavor switch
    {
        ModelFlavor.Torchvision => new TorchvisionMultiBoxLoss(priors, numClasses, options),
        ModelFlavor.SsdPytorch => new SsdPytorchMultiBoxLoss(priors, numClasses, options),
        ModelFlavor.Caffe => new CaffeMultiBoxLoss(priors, numClasses, options),
        _ => throw new ArgumentException($"multibox loss: unknown flavour {flavor}"),
    };

    /// <summary>The flavour's matching of one image's priors to its objects.</summary>
    internal abstract PriorMatching Match(GroundTruth truth);

    /// <summary>The regression target of <paramref name="prior"/> for the corner box <paramref name="box"/>.</summary>
    private protected abstract void Encode(int prior, ReadOnlySpan<float> box, Span<float> target);

    /// <summary>Batch-wide values the mining needs (ssd.pytorch: the batch's largest logit).</summary>
    private protected virtual float PrepareBatch(ReadOnlySpan<float> conf) => 0f;

    /// <summary>
    /// Writes the mining score of each candidate prior (<paramref name="logits"/>: this image's [P, C]) and returns
    /// the candidates (ascending) and how many of them to keep.
    /// </summary>
    private protected abstract int MiningScores(ReadOnlySpan<float> logits, PriorMatching match, float batchValue, Span<float> scores, List<int> candidates);

    /// <summary>N for the batch's positive count.</summary>
    private protected abstract double Normalizer(int positives);

    /// <summary>torchvision counts a positive that its mining also picked twice; the others take the union.</summary>
    private protected virtual bool CountsPositivesTwice => false;

    /// <summary>Caffe's SoftmaxWithLoss floors the probability at FLT_MIN; torch's cross_entropy does not.</summary>
    private protected virtual bool ClampsProbability => false;

    /// <summary>The loss of a batch, its gradients in <paramref name="locGrad"/> and <paramref name="confGrad"/>.</summary>
    public unsafe MultiBoxLossResult Compute(ReadOnlySpan<float> loc, ReadOnlySpan<float> conf, IReadOnlyList<GroundTruth> truths,
        Span<float> locGrad, Span<float> confGrad)
    {
        var batch = MatchBatch(truths);
        int n = truths.Count;
        long locCount = (long)n * NumPriors * 4, confCount = (long)n * NumPriors * NumClasses;
        if (loc.Length != locCount) throw new ArgumentException($"multibox loss: loc holds {loc.Length} floats, expected {n} x {NumPriors} x 4");
        if (conf.Length != confCount) throw new ArgumentException($"multibox loss: conf holds {conf.Length} floats, expected {n} x {NumPriors} x {NumClasses}");
        if (locGrad.Length != locCount || confGrad.Length != confCount) throw new ArgumentException("multibox loss: gradient buffers must have the sizes of loc and conf");
        float batchValue = PrepareBatch(conf);
        var images = new ImageLoss[n];
        fixed (float* pl = loc, pc = conf, pgl = locGrad, pgc = confGrad)
        {
            var job = new Job(this, batch, images, pl, pc, pgl, pgc, batchValue);
            WorkerPool.Run(n, Workers(n), job, static (j, _, i) => j.Image(i));
        }
        return batch.Result(images);
    }

    /// <summary>
    /// Whether the loss of an image needs nothing of the other images' network outputs (true but for ssd.pytorch,
    /// whose mining shifts by the batch's largest logit): then <see cref="ImageTerms"/> may run on each image's
    /// outputs as they come, from one batch-wide <see cref="MatchBatch"/>.
    /// </summary>
    internal virtual bool ImagesIndependent => true;

    /// <summary>The first, output-free half of <see cref="Compute"/>: every image's matching, and N from the batch's
    /// positives.</summary>
    internal MatchedBatch MatchBatch(IReadOnlyList<GroundTruth> truths)
    {
        ArgumentNullException.ThrowIfNull(truths);
        int n = truths.Count;
        if (n == 0) throw new ArgumentException("multibox loss: empty batch");
        for (int i = 0; i < n; i++)
        {
            if (truths[i] is null) throw new ArgumentException($"image {i}: ground truth is null");
            truths[i].Validate(NumClasses, i);
        }
        var matches = new PriorMatching[n];
        WorkerPool.Run(n, Workers(n), (this, truths, matches), static (s, _, i) => s.matches[i] = s.Item1.Match(s.truths[i]));
        return new MatchedBatch(this, truths, matches);
    }

    private int Workers(int images) => Math.Min(images, Options.Threads ?? Environment.ProcessorCount);

    /// <summary>A batch matched to its priors: what <see cref="ImageTerms"/> needs besides an image's outputs.</summary>
    internal sealed class MatchedBatch(MultiBoxLoss loss, IReadOnlyList<GroundTruth> truths, PriorMatching[] matches)
    {
        public IReadOnlyList<GroundTruth> Truths { get; } = truths;
        public PriorMatching[] Matches { get; } = matches;
        public int Positives { get; } = matches.Sum(m => m.Positives);
        public double Normalizer => loss.Normalizer(Positives);

        /// <summary>The batch's loss from its images' shares, normalised by N.</summary>
        public MultiBoxLossResult Result(ImageLoss[] images)
        {
            double normalizer = Normalizer;
            double locSum = images.Sum(x => x.LocSum), confSum = images.Sum(x => x.ConfSum);
            double locLoss = loss.Options.LocWeight * locSum / normalizer, confLoss = confSum / normalizer;
            return new MultiBoxLossResult(locLoss + confLoss, locLoss, confLoss, normalizer, Positives, images.Sum(x => x.Negatives), images);
        }
    }

    /// <summary>
    /// Image <paramref name="i"/> of a matched batch: its unnormalised loss sums, and the gradients of the batch loss
    /// (divided by the batch's N) on its outputs <paramref name="loc"/> [P*4] and <paramref name="logits"/> [P*C].
    /// </summary>
    internal ImageLoss ImageTerms(MatchedBatch batch, int i, ReadOnlySpan<float> loc, ReadOnlySpan<float> logits,
        Span<float> locGrad, Span<float> confGrad, float batchValue = 0f)
    {
        int p = NumPriors, c = NumClasses;
        var match = batch.Matches[i].Object;
        var truth = batch.Truths[i];
        float invN = (float)(1.0 / batch.Normalizer);

        // Localisation: smooth L1 of (prediction - encoded box) over the positives.
        double locSum = 0;
        int positives = 0;
        float locScale = Options.LocWeight * invN;
        Span<float> target = stackalloc float[4];
        locGrad.Clear();
        for (int prior = 0; prior < p; prior++)
        {
            int g = match[prior];
            if (g < 0) continue;
            positives++;
            Encode(prior, truth.Boxes.AsSpan(4 * g, 4), target);
            for (int k = 0; k < 4; k++)
            {
                float d = loc[4 * prior + k] - target[k];
                locSum += LossTerms.SmoothL1(d);
                locGrad[4 * prior + k] = locScale * LossTerms.SmoothL1Gradient(d);
            }
        }

        // Hard negative mining.
        var mined = MinedNegatives(logits, batch.Matches[i], batchValue);

        // Confidence: cross-entropy over positives (their class) and mined negatives (background).
        double confSum = 0;
        int negatives = 0;
        bool twice = CountsPositivesTwice, clamp = ClampsProbability;
        for (int prior = 0; prior < p; prior++)
        {
            int g = match[prior];
            int weight = g >= 0 ? (twice ? 1 + mined[prior] : 1) : mined[prior];
            var row = logits.Slice(prior * c, c);
            var grow = confGrad.Slice(prior * c, c);
            if (weight == 0) { grow.Clear(); continue; }
            if (g < 0) negatives++;
            int label = g >= 0 ? truth.Labels[g] : 0;
            var (max, sum) = LossTerms.SoftmaxStats(row);
            float ce = clamp ? LossTerms.ClampedCrossEntropy(row[label], max, sum) : LossTerms.CrossEntropy(row[label], max, sum);
            confSum += weight * (double)ce;
            LossTerms.CrossEntropyGradient(row, label, max, sum, weight * invN, grow);
        }
        return new ImageLoss(positives, negatives, locSum, confSum);
    }

    /// <summary>
    /// Which priors of one image its mining keeps (as <see cref="Compute"/> mines them): 1 per kept prior. For
    /// torchvision this may include positives (its mining ranks them last but does not exclude them).
    /// </summary>
    internal byte[] MinedNegatives(ReadOnlySpan<float> imageLogits, PriorMatching match, float batchValue = 0f)
    {
        if (imageLogits.Length != (long)NumPriors * NumClasses) throw new ArgumentException($"mining: {imageLogits.Length} logits, expected {NumPriors} x {NumClasses}");
        if (match.Object.Length != NumPriors) throw new ArgumentException($"mining: a matching of {match.Object.Length} priors, expected {NumPriors}");
        var scores = new float[NumPriors];
        var candidates = new List<int>(NumPriors);
        int k = MiningScores(imageLogits, match, batchValue, scores, candidates);
        var selected = new byte[NumPriors];
        HardNegatives.SelectTop(scores, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(candidates), k, selected);
        return selected;
    }

    /// <summary>The batch-wide mining value <see cref="MinedNegatives"/> needs for this batch's conf.</summary>
    public float BatchMiningValue(ReadOnlySpan<float> conf) => PrepareBatch(conf);

    private readonly unsafe struct Job(MultiBoxLoss loss, MatchedBatch batch, ImageLoss[] images,
        float* loc, float* conf, float* locGrad, float* confGrad, float batchValue)
    {
        public void Image(int i)
        {
            long l = (long)loss.NumPriors * 4, x = (long)loss.NumPriors * loss.NumClasses;
            images[i] = loss.ImageTerms(batch, i, new ReadOnlySpan<float>(loc + i * l, (int)l), new ReadOnlySpan<float>(conf + i * x, (int)x),
                new Span<float>(locGrad + i * l, (int)l), new Span<float>(confGrad + i * x, (int)x), batchValue);
        }
    }
}
