using System.Text.Json;
using Ssd.Engine.Training.Init;
using Ssd.Engine.Training.Optim;
using Ssd.Weights.Model;
using Ssd.Tests.Fixtures;

namespace Ssd.Tests.Training;

/// <summary>
/// Each flavour's initialisation of a full-size SSD300 against the values the library itself drew
/// (tools/fixtures/make_init_fixtures.py: torchvision's ssd300_vgg16 as built, ssd.pytorch's SSD300 with train.py's
/// weights_init, Caffe's XavierFiller as stated): per parameter, torch's sample and ours both fit the rule this
/// flavour gives it (constants exactly; a uniform's bounds contain the sample; a normal's sample reaches beyond any
/// uniform of that deviation; mean and deviation within 6 standard errors), so the rule and its fans are the
/// library's.
/// </summary>
public class WeightInitTests
{
    private static readonly Lazy<JsonElement> fixture = new(() =>
        JsonDocument.Parse(File.ReadAllText(FixtureFiles.Path(Path.Combine("training", "init.json")))).RootElement.Clone());

    private sealed record Stat(string Name, int[] Shape, double Mean, double Std, double Min, double Max)
    {
        public long Count => Shape.Aggregate(1L, (a, d) => a * d);
    }

    private static Stat[] Stats(string key) => fixture.Value.GetProperty(key).EnumerateArray().Select(p => new Stat(
        p.GetProperty("name").GetString()!, p.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray(),
        p.GetProperty("mean").GetDouble(), p.GetProperty("std").GetDouble(), p.GetProperty("min").GetDouble(), p.GetProperty("max").GetDouble())).ToArray();

    private static readonly (ModelFlavor Flavor, string Key)[] Flavors =
        [(ModelFlavor.Torchvision, "torchvision_params"), (ModelFlavor.SsdPytorch, "ssd_pytorch_params"), (ModelFlavor.Caffe, "caffe_params")];

    public static IEnumerable<ModelFlavor> FlavorCases() => Flavors.Select(f => f.Flavor);

    [TestCaseSource(nameof(FlavorCases))]
    public void TorchsSampleAndOursFitTheFlavoursRule(ModelFlavor flavor)
    {
        var stats = Stats(Flavors.First(f => f.Flavor == flavor).Key);
        var ps = stats.Select(s => new Parameter(s.Name, s.Shape, new float[s.Count])).ToArray();
        WeightInit.Initialize(flavor, ps, seed: 7);
        var byName = ps.ToDictionary(p => p.Name);
        foreach (var s in stats)
        {
            var p = byName[s.Name];
            var role = WeightInit.RoleFromName(flavor, s.Name);
            bool fixedValue = role is ParameterRole.L2NormScale or ParameterRole.NormScale or ParameterRole.NormShift;
            var weightShape = p.IsBias && !fixedValue ? byName[s.Name[..^4] + "weight"].Shape : fixedValue ? [1, 1] : s.Shape;
            var rule = WeightInit.RuleFor(flavor, role, p.IsBias, weightShape);
            var ours = Describe(p.Value);
            Fits(rule, s.Mean, s.Std, s.Min, s.Max, s.Count, $"{flavor} {s.Name} ({role}, {rule}): torch's sample");
            Fits(rule, ours.Mean, ours.Std, ours.Min, ours.Max, s.Count, $"{flavor} {s.Name} ({role}, {rule}): ours");
        }
        TestContext.Out.WriteLine($"{flavor}: {stats.Length} parameters, {stats.Sum(s => s.Count)} values");
    }

    private static void Fits(InitRule rule, double mean, double std, double min, double max, long n, string what)
    {
        if (rule.Distribution == InitDistribution.Constant)
        {
            Assert.That((min, max), Is.EqualTo(((double)(float)rule.A, (double)(float)rule.A)), what);
            return;
        }
        double se = rule.Std / Math.Sqrt(n);
        Assert.That(Math.Abs(mean - rule.Mean), Is.LessThanOrEqualTo(6 * se), $"{what}: mean {mean:G6}");
        Assert.That(Math.Abs(std - rule.Std), Is.LessThanOrEqualTo(6 * se + 1e-9), $"{what}: std {std:G6}, rule {rule.Std:G6}");
        if (rule.Distribution == InitDistribution.Uniform)
        {
            Assert.That(min, Is.GreaterThanOrEqualTo((float)rule.A), $"{what}: min {min:G6}");
            Assert.That(max, Is.LessThanOrEqualTo((float)rule.B), $"{what}: max {max:G6}");
        }
        else if (n >= 1000)
            Assert.That(Math.Max(-min, max), Is.GreaterThan(2.5 * rule.Std), $"{what}: a normal sample of {n} reaches past 2.5 sigma (a uniform of that sigma ends at 1.73)");
    }

    private static (double Mean, double Std, double Min, double Max) Describe(float[] v)
    {
        double mean = v.Average(x => (double)x);
        double var = v.Average(x => (x - mean) * (x - mean));
        return (mean, Math.Sqrt(var), v.Min(), v.Max());
    }

    [Test]
    public void SeededPerParameterAndIndependentOfOrder()
    {
        // The smaller layers (with their biases), to keep it quick.
        var all = Stats("torchvision_params");
        var small = all.Where(s => s.Name.EndsWith("weight") && s.Count < 100_000).Select(s => s.Name[..^6]).ToHashSet();
        var stats = all.Where(s => small.Contains(s.Name.EndsWith("bias") ? s.Name[..^4] : s.Name[..^6])).ToArray();
        Parameter[] Make() => stats.Select(s => new Parameter(s.Name, s.Shape, new float[s.Count])).ToArray();
        var a = Make();
        var b = Make().Reverse().ToArray();
        var c = Make();
        WeightInit.Initialize(ModelFlavor.Torchvision, a, 1);
        WeightInit.Initialize(ModelFlavor.Torchvision, b, 1);
        WeightInit.Initialize(ModelFlavor.Torchvision, c, 2);
        var byName = b.ToDictionary(p => p.Name);
        foreach (var p in a) Assert.That(byName[p.Name].Value, Is.EqualTo(p.Value), p.Name);
        Assert.That(a.Zip(c).Any(x => !x.First.Value.SequenceEqual(x.Second.Value)), "another seed draws other values");
    }

    [Test]
    public void RolesAndFansFollowTheCheckpointLayouts()
    {
        Assert.That(WeightInit.RoleFromName(ModelFlavor.Torchvision, "backbone.extra.0.5.weight"), Is.EqualTo(ParameterRole.Backbone), "conv5_3");
        Assert.That(WeightInit.RoleFromName(ModelFlavor.Torchvision, "backbone.extra.0.7.1.weight"), Is.EqualTo(ParameterRole.Extras), "fc6");
        Assert.That(WeightInit.RoleFromName(ModelFlavor.Torchvision, "head.classification_head.module_list.0.bias"), Is.EqualTo(ParameterRole.Head));
        Assert.That(WeightInit.RoleFromName(ModelFlavor.SsdPytorch, "vgg.33.weight"), Is.EqualTo(ParameterRole.Backbone), "fc7");
        Assert.That(WeightInit.RoleFromName(ModelFlavor.Caffe, "conv6_1.weight"), Is.EqualTo(ParameterRole.Extras));
        Assert.That(WeightInit.RoleFromName(ModelFlavor.Caffe, "fc7_mbox_conf.bias"), Is.EqualTo(ParameterRole.Head));
        Assert.That(WeightInit.RoleFromName(ModelFlavor.Caffe, "conv4_3_norm.scale"), Is.EqualTo(ParameterRole.L2NormScale));
        Assert.That(() => WeightInit.RoleFromName(ModelFlavor.SsdPytorch, "mystery.weight"), Throws.ArgumentException.With.Message.Contains("mystery"));
        Assert.That(WeightInit.Fans([64, 3, 3, 3]), Is.EqualTo((27, 576)));
        Assert.That(() => WeightInit.Fans([64]), Throws.ArgumentException);
        var orphan = new Parameter("lonely.bias", [4], new float[4]);
        Assert.That(() => WeightInit.Initialize(ModelFlavor.Caffe, [orphan], 1, _ => ParameterRole.Extras), Throws.ArgumentException.With.Message.Contains("lonely.weight"));
    }
}
