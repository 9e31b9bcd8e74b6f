using Ssd.Engine.Training;
using Ssd.Engine.Training.Loss;
using Ssd.Engine.Training.Optim;
using static Ssd.Tests.Engine.NetworkFixtures;

namespace Ssd.Tests.Training;

/// <summary>
/// <see cref="Trainer.ClipGradientNorm"/> against torch.nn.utils.clip_grad_norm_'s formula worked here in double: the
/// unclipped gradients come from a second trainer on the same weights and batch (learning rate 0), their total L2 norm
/// over the optimizer's parameters is computed here, and the clipped step's update must be plain SGD's on the gradients
/// times min(1, N / (norm + 1e-6)).
/// </summary>
public class ClipGradNormStepTests
{
    private static GroundTruth[] Truths() => [new([30f, 40f, 150f, 200f, 160f, 20f, 290f, 120f], [1, 3]), new([10f, 200f, 90f, 290f], [2])];

    private static readonly string[] Names = ["a.png", "b.png"];

    /// <summary>The optimizer's parameters: all, or only the heads (what torch sees of a model whose other parameters
    /// have no gradient: clip_grad_norm_ skips them).</summary>
    private static IEnumerable<Parameter> Trained(IReadOnlyList<Parameter> ps, bool headsOnly) =>
        headsOnly ? ps.Where(p => p.Name.StartsWith("head.", StringComparison.Ordinal)) : ps;

    /// <param name="fraction">N as a fraction of the gradients' norm: below 1 clips, above 1 leaves them.</param>
    /// <param name="headsOnly">Train (and so clip) only the heads.</param>
    [TestCase(0.25, false)]
    [TestCase(4.0, false)]
    [TestCase(0.1, true)]
    public void AClippedStepIsSgdOnTheGradientsScaledByTorchsFormula(double fraction, bool headsOnly)
    {
        const double lr = 0.05;
        var (model, plainWeights) = TrainStepTests.SmallTorchvision(seed: 13);
        var (_, clippedWeights) = TrainStepTests.SmallTorchvision(seed: 13);
        var input = TestData.Uniform(21, 2 * 3 * 300 * 300, -2f, 2f);
        using var backend = Backend("cpu");

        // The unclipped gradients: a step at lr 0 leaves the weights and holds them.
        using var plain = Trainer.Create(model, plainWeights, backend, 2, ps => new Sgd(ParameterGroup.Single([.. Trained(ps, headsOnly)], 0, 0)));
        var p0 = plain.Step(input, Truths(), Names);
        Assert.That(p0.GradNorm, Is.Null, "no clipping, no norm");
        var gradients = plain.Optimizer.Parameters.ToDictionary(p => p.Name, p => (float[])p.Grad.Clone());
        double sum = 0;
        foreach (var g in gradients.Values) foreach (float v in g) sum += (double)v * v;
        double norm = Math.Sqrt(sum);
        double max = fraction * norm;
        double coef = Math.Min(1.0, max / (norm + 1e-6));
        TestContext.Out.WriteLine($"norm {norm:G9} over {gradients.Count} tensors; N {max:G6}; factor {coef:G9}");
        Assert.That(norm, Is.GreaterThan(1e-3), "the gradients are not negligible");

        using var clipped = Trainer.Create(model, clippedWeights, backend, 2, ps => new Sgd(ParameterGroup.Single([.. Trained(ps, headsOnly)], lr, 0)));
        clipped.ClipGradientNorm = max;
        var before = clipped.Parameters.ToDictionary(p => p.Name, p => (float[])p.Value.Clone());
        var r = clipped.Step(input, Truths(), Names);
        Assert.That(r.Loss.Loss, Is.EqualTo(p0.Loss.Loss), "the same weights and batch, the same loss");
        Assert.That((double)r.GradNorm!.Value, Is.EqualTo(norm).Within(1e-5 * norm), "grad_norm: the total norm before clipping");

        int updated = 0;
        foreach (var p in clipped.Parameters)
        {
            var w0 = before[p.Name];
            if (!gradients.TryGetValue(p.Name, out var g))
            {
                Assert.That(p.Value, Is.EqualTo(w0).AsCollection, $"'{p.Name}' is not trained: unchanged");
                continue;
            }
            for (int i = 0; i < g.Length; i++)
            {
                double step = lr * coef * g[i];
                double expected = w0[i] - step;
                // float32 weights: the new weight is the exact one rounded, give or take the float rounding of the factor.
                double ulp = MathF.BitIncrement(MathF.Abs((float)expected)) - MathF.Abs((float)expected);
                double tolerance = 1.01 * ulp + 1e-5 * Math.Abs(step);
                if (Math.Abs(p.Value[i] - expected) > tolerance)
                    Assert.Fail($"'{p.Name}'[{i}]: {p.Value[i]:G9}, expected {expected:G9} (before {w0[i]:G9}, gradient {g[i]:G9}, factor {coef:G9})");
                if (coef == 1.0) Assert.That(p.Grad[i], Is.EqualTo(g[i]), $"'{p.Name}'[{i}]: a gradient below N is left as it is");
            }
            updated++;
        }
        Assert.That(updated, Is.EqualTo(gradients.Count));
    }

    [TestCase(0.0)]
    [TestCase(-1.0)]
    [TestCase(double.NaN)]
    [TestCase(double.PositiveInfinity)]
    public void ANormThatIsNotPositiveAndFiniteIsRefused(double max)
    {
        var (model, weights) = TrainStepTests.SmallTorchvision();
        using var backend = Backend("cpu");
        using var trainer = Trainer.Create(model, weights, backend, 1, ps => new Sgd(ParameterGroup.Single(ps, 1e-3, 0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => trainer.ClipGradientNorm = max);
        Assert.That(trainer.ClipGradientNorm, Is.Null, "left off");
        trainer.ClipGradientNorm = 10;
        Assert.That(trainer.ClipGradientNorm, Is.EqualTo(10.0));
        trainer.ClipGradientNorm = null;
        Assert.That(trainer.ClipGradientNorm, Is.Null);
    }
}
