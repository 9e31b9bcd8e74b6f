using System.Text.Json;
using Ssd.Engine.Training.Loss;
using Ssd.Kernels.Priors;
using Ssd.Weights.Model;

namespace Ssd.Tests.Training;

/// <summary>
/// Each flavour's MultiBox loss against its own implementation on the same inputs
/// (tools/fixtures/make_loss_fixtures.py: torchvision's SSD.compute_loss under autograd; ssd.pytorch's match and
/// MultiBoxLoss; Caffe's MultiBoxLoss stated in torch): the matching and the mined negatives exactly, the loss
/// terms within 1e-5 relative, the gradients within a normalised error of 1e-6 (and 1e-4 of the largest
/// element per element).
/// </summary>
public class MultiBoxLossTests
{
    private const string Script = "make_loss_fixtures.py";
    private static readonly Lazy<FixtureBlob> fixture = new(() => FixtureBlob.Generated("loss", Script));

    public static IEnumerable<string> Cases() =>
    [
        "tv_ssd300", "tv_tiny", "tv_empty_batch", "sp_ssd300", "sp_underflow", "sp_tiny", "caffe_ssd300", "caffe_tiny",
    ];

    private sealed record Case(string Name, ModelFlavor Flavor, int Classes, int Batch, int Priors, double Loss, double LocLoss, double ConfLoss, double Normalizer);

    private static Case Describe(string name)
    {
        foreach (var c in fixture.Value.Meta.GetProperty("cases").EnumerateArray())
            if (c.GetProperty("name").GetString() == name)
                return new Case(name, c.GetProperty("flavor").GetString() switch
                    {
                        "torchvision" => ModelFlavor.Torchvision,
                        "ssd.pytorch" => ModelFlavor.SsdPytorch,
                        _ => ModelFlavor.Caffe,
                    },
                    c.GetProperty("classes").GetInt32(), c.GetProperty("batch").GetInt32(), c.GetProperty("priors").GetInt32(),
                    c.GetProperty("loss").GetDouble(), c.GetProperty("loc_loss").GetDouble(), c.GetProperty("conf_loss").GetDouble(),
                    c.GetProperty("normalizer").GetDouble());
        throw new KeyNotFoundException(name);
    }

    private static GroundTruth[] Truths(Case c) =>
        Enumerable.Range(0, c.Batch).Select(i => new GroundTruth(fixture.Value.Floats($"{c.Name}/gt{i}/boxes"), fixture.Value.Ints($"{c.Name}/gt{i}/labels"))).ToArray();

    [TestCaseSource(nameof(Cases))]
    public void MatchesAndMinesAsTheReference(string name)
    {
        var c = Describe(name);
        var f = fixture.Value;
        var loss = MultiBoxLoss.Create(c.Flavor, f.Floats($"{name}/priors"), c.Classes);
        var conf = f.Floats($"{name}/conf");
        var truths = Truths(c);
        float batchValue = loss.BatchMiningValue(conf);
        for (int i = 0; i < c.Batch; i++)
        {
            var match = loss.Match(truths[i]);
            var expected = f.Ints($"{name}/match{i}");
            int bad = Enumerable.Range(0, c.Priors).FirstOrDefault(p => match.Object[p] != expected[p], -1);
            Assert.That(bad, Is.EqualTo(-1), () => $"image {i}: prior {bad} matched to {match.Object[bad]}, the reference {expected[bad]}");
            var mined = loss.MinedNegatives(conf.AsSpan(i * c.Priors * c.Classes, c.Priors * c.Classes), match, batchValue);
            var expectedMined = f.UInt8($"{name}/negatives{i}");
            if (c.Flavor == ModelFlavor.SsdPytorch)   // ssd.pytorch's neg includes positives it OR-s back; the fixture keeps the negatives
                for (int p = 0; p < c.Priors; p++) if (match.Object[p] >= 0) mined[p] = 0;
            int badNeg = Enumerable.Range(0, c.Priors).FirstOrDefault(p => mined[p] != expectedMined[p], -1);
            Assert.That(badNeg, Is.EqualTo(-1), () => $"image {i}: prior {badNeg} mined {mined[badNeg]}, the reference {expectedMined[badNeg]}");
            TestContext.Out.WriteLine($"{name} image {i}: {match.Positives} positives, {mined.Count(m => m != 0)} mined");
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void LossAndGradientsEqualTheReference(string name)
    {
        var c = Describe(name);
        var f = fixture.Value;
        var loss = MultiBoxLoss.Create(c.Flavor, f.Floats($"{name}/priors"), c.Classes);
        var loc = f.Floats($"{name}/loc");
        var conf = f.Floats($"{name}/conf");
        var locGrad = new float[loc.Length];
        var confGrad = new float[conf.Length];
        var result = loss.Compute(loc, conf, Truths(c), locGrad, confGrad);
        TestContext.Out.WriteLine($"{name}: loss {result.Loss:G9} (reference {c.Loss:G9}), loc {result.LocLoss:G9} ({c.LocLoss:G9}), conf {result.ConfLoss:G9} ({c.ConfLoss:G9}), N {result.Normalizer}");
        Assert.That(result.Normalizer, Is.EqualTo(c.Normalizer), "N");
        AssertRelative(result.Loss, c.Loss, "loss");
        AssertRelative(result.LocLoss, c.LocLoss, "loc_loss");
        AssertRelative(result.ConfLoss, c.ConfLoss, "conf_loss");
        AssertGradient(locGrad, f.Floats($"{name}/loc_grad"), "d loss / d loc");
        AssertGradient(confGrad, f.Floats($"{name}/conf_grad"), "d loss / d conf");
    }

    [Test]
    public void PriorsInTheFixturesAreTheEnginePriors()
    {
        var f = fixture.Value;
        var grids = TorchvisionPriorConfig.Ssd300Grids.Select(s => (s, s)).ToArray();
        TestData.AssertClose(f.Floats("tv_ssd300/priors"), PriorReference.Torchvision(TorchvisionPriorConfig.Ssd300, grids, 300, 300), 0f, 0f, "torchvision anchors");
        TestData.AssertClose(f.Floats("sp_ssd300/priors"), PriorReference.SsdPytorch(SsdPytorchPriorConfig.Ssd300Voc), 0f, 0f, "ssd.pytorch priors");
        TestData.AssertClose(f.Floats("caffe_ssd300/priors"), PriorReference.Caffe(CaffePriorConfig.Ssd300Voc), 0f, 0f, "Caffe priors");
    }

    internal static void AssertRelative(double actual, double expected, string what, double rtol = 1e-5)
    {
        double tol = rtol * Math.Abs(expected) + 1e-9;
        Assert.That(Math.Abs(actual - expected), Is.LessThanOrEqualTo(tol), $"{what}: {actual:G9}, reference {expected:G9}");
    }

    /// <summary>sum (a - e)^2 / sum e^2 &lt;= 1e-12 (relative L2 error 1e-6), and per element |a - e| &lt;= 1e-4 max |e|.</summary>
    internal static void AssertGradient(float[] actual, float[] expected, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), what);
        double err = 0, norm = 0, maxAbs = 0, worst = 0;
        int worstAt = -1;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = actual[i] - (double)expected[i];
            err += d * d;
            norm += (double)expected[i] * expected[i];
            maxAbs = Math.Max(maxAbs, Math.Abs(expected[i]));
            if (!(Math.Abs(d) <= worst)) { worst = Math.Abs(d); worstAt = i; }
        }
        double rel = norm == 0 ? Math.Sqrt(err) : Math.Sqrt(err / norm);
        TestContext.Out.WriteLine($"  {what}: relative L2 error {rel:E2}, largest difference {worst:E2} at {worstAt} (largest element {maxAbs:E2})");
        Assert.That(rel, Is.LessThanOrEqualTo(1e-6), $"{what}: relative L2 error");
        Assert.That(worst, Is.LessThanOrEqualTo(1e-4 * maxAbs + 1e-12), $"{what}: element {worstAt} is {(worstAt >= 0 ? actual[worstAt] : 0)}, reference {(worstAt >= 0 ? expected[worstAt] : 0)}");
    }
}
