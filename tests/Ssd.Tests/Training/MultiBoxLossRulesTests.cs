using Ssd.Engine.Training;
using Ssd.Engine.Training.Loss;
using Ssd.Engine.Training.Optim;
using Ssd.Weights.Model;

namespace Ssd.Tests.Training;

/// <summary>
/// The loss's own rules, without the peers: the hard-negative selection against a full sort with the declared tie
/// rule, the gradients against central finite differences, images and batches without objects, non-finite inputs
/// and the guard, bad input.
/// </summary>
public class MultiBoxLossRulesTests
{
    private static readonly ModelFlavor[] AllFlavors = [ModelFlavor.Torchvision, ModelFlavor.SsdPytorch, ModelFlavor.Caffe];

    /// <summary>A small prior set in each flavour's layout (the same boxes, in [0, 1] or pixels of 100).</summary>
    internal static float[] Priors(ModelFlavor flavor, int count, int seed)
    {
        var rng = new Random(seed);
        var corners = new float[4 * count];
        for (int i = 0; i < count; i++)
        {
            float w = 0.15f + 0.4f * rng.NextSingle(), h = 0.15f + 0.4f * rng.NextSingle();
            float x = (1 - w) * rng.NextSingle(), y = (1 - h) * rng.NextSingle();
            (corners[4 * i], corners[4 * i + 1], corners[4 * i + 2], corners[4 * i + 3]) = (x, y, x + w, y + h);
        }
        return flavor switch
        {
            ModelFlavor.Torchvision => corners.Select(v => v * 100f).ToArray(),
            ModelFlavor.SsdPytorch => Enumerable.Range(0, count).SelectMany(i => new[]
            {
                (corners[4 * i] + corners[4 * i + 2]) / 2, (corners[4 * i + 1] + corners[4 * i + 3]) / 2,
                corners[4 * i + 2] - corners[4 * i], corners[4 * i + 3] - corners[4 * i + 1],
            }).ToArray(),
            _ => [.. corners, .. Enumerable.Range(0, count).SelectMany(_ => new[] { 0.1f, 0.1f, 0.2f, 0.2f })],
        };
    }

    internal static GroundTruth Objects(ModelFlavor flavor, float[] priors, int[] fromPriors, int classes, int seed)
    {
        var rng = new Random(seed);
        var boxes = new List<float>();
        foreach (int p in fromPriors)
        {
            float[] c = flavor switch
            {
                ModelFlavor.Torchvision => priors.AsSpan(4 * p, 4).ToArray(),
                ModelFlavor.SsdPytorch => [priors[4 * p] - priors[4 * p + 2] / 2, priors[4 * p + 1] - priors[4 * p + 3] / 2, priors[4 * p] + priors[4 * p + 2] / 2, priors[4 * p + 1] + priors[4 * p + 3] / 2],
                _ => priors.AsSpan(4 * p, 4).ToArray(),
            };
            float jitter = (flavor == ModelFlavor.Torchvision ? 100f : 1f) * 0.02f;
            boxes.AddRange(c.Select(v => v + jitter * (rng.NextSingle() - 0.5f)));
        }
        return new GroundTruth([.. boxes], fromPriors.Select(_ => 1 + rng.Next(classes - 1)).ToArray());
    }

    [Test]
    public void SelectionIsTheTopOfAStableSortByScoreThenIndex()
    {
        var rng = new Random(3);
        for (int trial = 0; trial < 300; trial++)
        {
            int p = 1 + rng.Next(400);
            var scores = new float[p];
            for (int i = 0; i < p; i++)
            {
                int kind = rng.Next(20);
                scores[i] = kind switch
                {
                    0 => float.NaN, 1 => float.NegativeInfinity, 2 => float.PositiveInfinity, 3 => -0f, 4 => 0f,
                    _ => MathF.Round((rng.NextSingle() - 0.3f) * 8, 1),   // many exact ties
                };
            }
            var candidates = Enumerable.Range(0, p).Where(_ => rng.Next(4) != 0).ToArray();
            int k = rng.Next(candidates.Length + 3) - 1;
            var selected = new byte[p];
            HardNegatives.SelectTop(scores, candidates, k, selected);
            var expected = new byte[p];
            foreach (int c in candidates.OrderByDescending(c => HardNegatives.Key(scores[c])).ThenBy(c => c).Take(Math.Max(0, k))) expected[c] = 1;
            Assert.That(selected, Is.EqualTo(expected), $"trial {trial}: {p} priors, {candidates.Length} candidates, k {k}");
        }
        Assert.That(HardNegatives.Key(-0f), Is.EqualTo(HardNegatives.Key(0f)), "-0 ties +0");
        Assert.That(HardNegatives.Key(float.NaN), Is.GreaterThan(HardNegatives.Key(float.PositiveInfinity)));
        Assert.That(HardNegatives.Key(-1f), Is.LessThan(HardNegatives.Key(-0.5f)));
    }

    [TestCaseSource(nameof(AllFlavors))]
    public void GradientsAreTheLossesDerivative(ModelFlavor flavor)
    {
        const int p = 14, c = 4, n = 2;
        var priors = Priors(flavor, p, 5);
        var loss = MultiBoxLoss.Create(flavor, priors, c);
        var truths = new[] { Objects(flavor, priors, [2, 9], c, 1), Objects(flavor, priors, [4], c, 2) };
        var loc = TestData.Uniform(7, n * p * 4, -1.5f, 1.5f);
        var conf = TestData.Uniform(8, n * p * c, -3f, 3f);
        var gl = new float[loc.Length];
        var gc = new float[conf.Length];
        var result = loss.Compute(loc, conf, truths, gl, gc);
        Assert.That(result.Positives, Is.GreaterThan(0));
        Assert.That(result.Negatives, Is.GreaterThan(0));
        double Loss(float[] l, float[] x) => loss.Compute(l, x, truths, new float[l.Length], new float[x.Length]).Loss;
        string Mined() => string.Concat(Enumerable.Range(0, n).Select(i =>
            Convert.ToHexString(loss.MinedNegatives(conf.AsSpan(i * p * c, p * c), loss.Match(truths[i]), loss.BatchMiningValue(conf)))));
        string baseline = Mined();
        int skipped = 0;
        void Check(float[] values, float[] grad, string what)
        {
            for (int i = 0; i < values.Length; i++)
            {
                float keep = values[i], h = 1e-2f;
                values[i] = keep + h; double up = Loss(loc, conf); bool sameUp = Mined() == baseline;
                values[i] = keep - h; double down = Loss(loc, conf); bool sameDown = Mined() == baseline;
                values[i] = keep;
                if (!(sameUp && sameDown)) { skipped++; continue; }   // the step changed the mined set: the loss jumps there
                double numeric = (up - down) / (2 * h);
                Assert.That(Math.Abs(grad[i] - numeric), Is.LessThanOrEqualTo(2e-3 + 2e-2 * Math.Abs(numeric)), $"{flavor} {what}[{i}]: analytic {grad[i]}, numeric {numeric}");
            }
        }
        Check(loc, gl, "d loc");
        Check(conf, gc, "d conf");
        TestContext.Out.WriteLine($"{flavor}: {loc.Length + conf.Length} elements, {skipped} skipped (mined set changed)");
        Assert.That(skipped, Is.LessThan((loc.Length + conf.Length) / 10));
    }

    private const int PairPriors = 10, PairClasses = 3;

    /// <summary>A loss on 10 priors and 3 classes, and random outputs for a batch of two.</summary>
    private static (MultiBoxLoss Loss, float[] Priors, float[] Loc, float[] Conf) PairOfImages(ModelFlavor flavor)
    {
        var priors = Priors(flavor, PairPriors, 9);
        return (MultiBoxLoss.Create(flavor, priors, PairClasses), priors, TestData.Uniform(2, 2 * PairPriors * 4), TestData.Uniform(1, 2 * PairPriors * PairClasses, -2, 2));
    }

    [TestCaseSource(nameof(AllFlavors))]
    public void ImagesAndBatchesWithoutObjectsTrain(ModelFlavor flavor)
    {
        const int p = PairPriors, c = PairClasses;
        var (loss, priors, loc, conf) = PairOfImages(flavor);
        var gl = Enumerable.Repeat(float.NaN, loc.Length).ToArray();
        var gc = Enumerable.Repeat(float.NaN, conf.Length).ToArray();
        var empty = loss.Compute(loc, conf, [GroundTruth.Empty, GroundTruth.Empty], gl, gc);
        Assert.That((empty.Loss, empty.LocLoss, empty.ConfLoss, empty.Normalizer, empty.Positives, empty.Negatives), Is.EqualTo((0.0, 0.0, 0.0, 1.0, 0, 0)),
            "no objects in the batch: loss 0 (ssd.pytorch itself would divide 0 by 0)");
        Assert.That(gl.Concat(gc).All(g => g == 0f), "every gradient written, zero");
        // One image with objects, one without: the empty one contributes nothing.
        var mixed = loss.Compute(loc, conf, [Objects(flavor, priors, [3], c, 4), GroundTruth.Empty], gl, gc);
        Assert.That(mixed.Images[1], Is.EqualTo(new ImageLoss(0, 0, 0, 0)));
        Assert.That(gl.AsSpan(p * 4).ToArray().All(g => g == 0f) && gc.AsSpan(p * c).ToArray().All(g => g == 0f));
        Assert.That(mixed.IsFinite && mixed.Positives > 0);
    }

    [TestCaseSource(nameof(AllFlavors))]
    public void NonFiniteOutputsStopTrainingNamingTheImage(ModelFlavor flavor)
    {
        const int p = PairPriors, c = PairClasses;
        var (loss, priors, loc, conf) = PairOfImages(flavor);
        var truths = new[] { Objects(flavor, priors, [1], c, 1), Objects(flavor, priors, [6], c, 2) };
        var positive = loss.Match(truths[1]).Object.Select((m, i) => (m, i)).First(x => x.m >= 0).i;
        loc[p * 4 + 4 * positive] = float.NaN;   // image 1's matched prior
        var gl = new float[loc.Length];
        var gc = new float[conf.Length];
        var result = loss.Compute(loc, conf, truths, gl, gc);
        Assert.That(result.IsFinite, Is.False);
        Assert.That(result.Images[0].IsFinite && !result.Images[1].IsFinite);
        var e = Assert.Throws<NonFiniteLossException>(() => TrainingGuard.CheckLoss(41, result, ["a.jpg", "b.jpg"]))!;
        Assert.That(e.Step, Is.EqualTo(41));
        Assert.That(e.Images, Is.EqualTo(new[] { "b.jpg" }));
        Assert.That(e.Message, Does.Contain("step 41").And.Contain("b.jpg").And.Contain("last good step"));
        var parameter = new Parameter("head.weight", [2], [1f, 2f], [0.5f, float.PositiveInfinity]);
        var g = Assert.Throws<NonFiniteLossException>(() => TrainingGuard.CheckGradients(41, [parameter], result, ["a.jpg", "b.jpg"]))!;
        Assert.That(g.Message, Does.Contain("head.weight").And.Contain("element 1"));
        Assert.That(parameter.Value, Is.EqualTo(new[] { 1f, 2f }), "nothing was updated");
        Assert.That(TrainingGuard.AllFinite(Enumerable.Range(0, 37).Select(i => (float)i).ToArray()));
        Assert.That(TrainingGuard.AllFinite(Enumerable.Range(0, 37).Select(i => i == 35 ? float.NaN : i).ToArray()), Is.False);
    }

    [TestCaseSource(nameof(AllFlavors))]
    public void ThreadsDoNotChangeTheResult(ModelFlavor flavor)
    {
        const int p = 40, c = 5, n = 4;
        var priors = Priors(flavor, p, 2);
        var truths = Enumerable.Range(0, n).Select(i => i == 2 ? GroundTruth.Empty : Objects(flavor, priors, [i, i + 7, 30 - i], c, i)).ToArray();
        var loc = TestData.Uniform(3, n * p * 4);
        var conf = TestData.Uniform(4, n * p * c, -4, 4);
        (MultiBoxLossResult, float[], float[]) Run(int threads)
        {
            var gl = new float[loc.Length];
            var gc = new float[conf.Length];
            var r = MultiBoxLoss.Create(flavor, priors, c, new MultiBoxLossOptions { Threads = threads }).Compute(loc, conf, truths, gl, gc);
            return (r, gl, gc);
        }
        var (r1, gl1, gc1) = Run(1);
        var (r4, gl4, gc4) = Run(4);
        Assert.That(r4.Loss, Is.EqualTo(r1.Loss));
        Assert.That(r4.Images, Is.EqualTo(r1.Images));
        Assert.That(gl4, Is.EqualTo(gl1));
        Assert.That(gc4, Is.EqualTo(gc1));
    }

    [Test]
    public void BadInputIsRefusedWithItsReason()
    {
        var priors = Priors(ModelFlavor.Caffe, 6, 1);
        var loss = MultiBoxLoss.Create(ModelFlavor.Caffe, priors, 3);
        var loc = new float[6 * 4];
        var conf = new float[6 * 3];
        Assert.That(() => loss.Compute(loc, conf[..^1], [GroundTruth.Empty], new float[24], new float[18]), Throws.ArgumentException.With.Message.Contains("conf holds 17"));
        Assert.That(() => loss.Compute(loc, conf, [new GroundTruth([0.1f, 0.1f, 0.5f, 0.5f], [3])], new float[24], new float[18]),
            Throws.ArgumentException.With.Message.Contains("label 3"));
        Assert.That(() => loss.Compute(loc, conf, [new GroundTruth([0.5f, 0.1f, 0.5f, 0.5f], [1])], new float[24], new float[18]),
            Throws.ArgumentException.With.Message.Contains("no area"));
        Assert.That(() => loss.Compute(loc, conf, [new GroundTruth([0.1f, 0.1f, 0.5f], [1])], new float[24], new float[18]),
            Throws.ArgumentException.With.Message.Contains("3 box coordinates"));
        Assert.That(() => MultiBoxLoss.Create(ModelFlavor.Caffe, priors[..^4], 3), Throws.ArgumentException.With.Message.Contains("2 x P x 4"));
        Assert.That(() => MultiBoxLoss.Create(ModelFlavor.Torchvision, [0, 0, 0, 10], 3), Throws.ArgumentException.With.Message.Contains("no area"));
        Assert.That(() => MultiBoxLoss.Create(ModelFlavor.SsdPytorch, [0.5f, 0.5f, 0.2f, 0.2f], 1), Throws.ArgumentException.With.Message.Contains("classes"));
    }

    [Test]
    public void CaffeFloorsTheProbabilityTorchDoesNot()
    {
        // exp(-200) underflows: Caffe's -log(max(p, FLT_MIN)) stops at 87.34, torch's -log_softmax is 200.
        float max = 0f, sum = 1f;
        Assert.That(LossTerms.ClampedCrossEntropy(-200f, max, sum), Is.EqualTo(-MathF.Log(LossTerms.FltMin)));
        Assert.That(LossTerms.CrossEntropy(-200f, max, sum), Is.EqualTo(200f));
        Assert.That(1f / 0.1f, Is.EqualTo(10f), "torchvision's box coder weights are the variances' inverses exactly");
        Assert.That(1f / 0.2f, Is.EqualTo(5f));
    }
}
