using System.Text.Json;
using Ssd.Data;
using Ssd.Data.Coco;
using Ssd.Data.Metrics;
using Ssd.Data.Voc;

namespace Ssd.Tests.Data;

/// <summary>
/// Every statistic against pycocotools' COCOeval and voc_eval.py on the same files (tools/fixtures/make_eval_fixtures.py):
/// a synthetic COCO set, a synthetic VOC set, and the real BCCD set, each under all three metrics.
/// </summary>
public class MetricFixtureTests
{
    private const double Tolerance = 1e-9;

    private static (DetectionDataSet Gt, ImportedDetections Dets) Coco() =>
        (CocoDataSet.Load(EvalFixtures.File("coco", "instances.json")),
         CocoResults.Read(EvalFixtures.File("coco", "results.json"), CocoDataSet.Load(EvalFixtures.File("coco", "instances.json"))));

    private static (DetectionDataSet Gt, ImportedDetections Dets) Voc()
    {
        var split = EvalFixtures.File("voc", Path.Combine("VOC", "ImageSets", "Main", "test.txt"));
        var gt = VocDataSet.Load(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(split)!, "..", "..")), "test");
        return (gt, DetectionFiles.Read(EvalFixtures.File("voc", "detections.json"), gt));
    }

    private static (DetectionDataSet Gt, ImportedDetections Dets) Bccd()
    {
        var gt = VocDataSet.Load(EvalFixtures.Bccd, "test");
        return (gt, DetectionFiles.Read(EvalFixtures.File("bccd", "detections.json"), gt));
    }

    private static (DetectionDataSet, ImportedDetections) Load(string set) => set switch
    {
        "coco" => Coco(),
        "voc" => Voc(),
        _ => Bccd(),
    };

    [TestCase("coco")]
    [TestCase("voc")]
    [TestCase("bccd")]
    public void CocoStatisticsEqualPycocotools(string set)
    {
        var (gt, dets) = Load(set);
        Assert.That(dets.Warnings, Is.Empty);
        var expected = EvalFixtures.Expected(set).GetProperty("coco");
        var eval = CocoEvaluator.Evaluate(gt, dets.Detections);

        var stats = expected.GetProperty("stats").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        for (int i = 0; i < stats.Length; i++)
            Assert.That(eval.Stats[i], Is.EqualTo(stats[i]).Within(Tolerance), CocoEvaluator.StatNames[i]);

        var precision = EvalFixtures.Doubles(set, "precision.bin");
        var recall = EvalFixtures.Doubles(set, "recall.bin");
        Assert.That(eval.Precision, Has.Length.EqualTo(precision.Length));
        Assert.That(eval.Recall, Has.Length.EqualTo(recall.Length));
        for (int i = 0; i < precision.Length; i++)
            if (Math.Abs(eval.Precision[i] - precision[i]) > Tolerance) Assert.Fail($"precision[{i}] = {eval.Precision[i]}, pycocotools {precision[i]}");
        for (int i = 0; i < recall.Length; i++)
            if (Math.Abs(eval.Recall[i] - recall[i]) > Tolerance) Assert.Fail($"recall[{i}] = {eval.Recall[i]}, pycocotools {recall[i]}");

        var result = eval.ToResult();
        foreach (var c in expected.GetProperty("per_class").EnumerateObject())
        {
            var score = result.PerClass.Single(p => p.Name == c.Name);
            AssertAp(score.AP, EvalFixtures.Ap(c.Value), c.Name);
        }
    }

    [TestCase("coco", "voc07")]
    [TestCase("coco", "voc2010")]
    [TestCase("voc", "voc07")]
    [TestCase("voc", "voc2010")]
    [TestCase("bccd", "voc07")]
    [TestCase("bccd", "voc2010")]
    public void VocApEqualsVocEval(string set, string metric)
    {
        var (gt, dets) = Load(set);
        var expected = EvalFixtures.Expected(set).GetProperty(metric);
        var result = Evaluator.Evaluate(MetricNames.Parse(metric), gt, dets.Detections);
        Assert.That(result.Metric, Is.EqualTo(MetricNames.Parse(metric)));
        AssertAp(result["mAP"], EvalFixtures.Ap(expected.GetProperty("mAP")), "mAP");
        var perClass = expected.GetProperty("per_class").EnumerateObject().ToList();
        Assert.That(result.PerClass.Select(c => c.Name), Is.EquivalentTo(perClass.Select(c => c.Name)));
        foreach (var c in perClass)
            AssertAp(result.PerClass.Single(p => p.Name == c.Name).AP, EvalFixtures.Ap(c.Value), c.Name);
    }

    [Test]
    public void SyntheticCocoSetLoadsWhatTheReferenceSaw()
    {
        var (gt, dets) = Coco();
        var expected = EvalFixtures.Expected("coco");
        Assert.That(gt.Images, Has.Count.EqualTo(expected.GetProperty("images").GetInt32()));
        Assert.That(gt.ObjectCount, Is.EqualTo(expected.GetProperty("objects").GetInt32()));
        Assert.That(dets.Detections, Has.Count.EqualTo(expected.GetProperty("detections").GetInt32()));
        // The degenerate boxes are skipped and reported; annotation id 0 is reported.
        Assert.That(gt.Issues.Count(i => i.Problem.Contains("degenerate")), Is.EqualTo(expected.GetProperty("skipped").GetInt32()));
        Assert.That(gt.Issues.Count(i => i.Field.EndsWith(".id")), Is.EqualTo(1));
        // Non-contiguous category ids sorted as pycocotools sorts them; images by id; images without objects kept.
        Assert.That(gt.Classes.Select(c => c.Id), Is.EqualTo(new long[] { 1, 3, 7, 12, 55, 90 }));
        Assert.That(gt.Images.Select(i => i.CocoId), Is.Ordered);
        Assert.That(gt.Images.Count(i => i.Objects.Count == 0), Is.GreaterThan(10));
        Assert.That(gt.Images.SelectMany(i => i.Objects).Count(o => o.IsCrowd), Is.GreaterThan(5));
        // More than 100 detections of one class on one image, and many tied scores.
        Assert.That(dets.Detections.GroupBy(d => (d.ImageIndex, d.ClassIndex)).Max(g => g.Count()), Is.GreaterThan(100));
        Assert.That(dets.Detections.GroupBy(d => d.Score).Max(g => g.Count()), Is.GreaterThan(50));
    }

    [Test]
    public void ScoresDoNotDependOnTheDetectionOrderExceptThroughTies()
    {
        // Reversing the detections changes only the order among tied scores: with scores made distinct the result is
        // the same, which shows the evaluator sorts by score and does not rely on the input order otherwise.
        var (gt, dets) = Coco();
        var distinct = dets.Detections.Select((d, i) => d with { Score = d.Score + i * 1e-9 }).ToList();
        var reversed = Enumerable.Reverse(distinct).ToList();
        var a = CocoEvaluator.Evaluate(gt, distinct).Stats;
        var b = CocoEvaluator.Evaluate(gt, reversed).Stats;
        Assert.That(b, Is.EqualTo(a));
        var va = VocEvaluator.Evaluate(gt, distinct)["mAP"];
        var vb = VocEvaluator.Evaluate(gt, reversed)["mAP"];
        Assert.That(vb, Is.EqualTo(va));
    }

    private static void AssertAp(double actual, double expected, string what)
    {
        if (double.IsNaN(expected)) Assert.That(actual, Is.NaN, what);
        else Assert.That(actual, Is.EqualTo(expected).Within(Tolerance), what);
    }
}
