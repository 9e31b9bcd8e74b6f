using System.Text.Json;
using Ssd.Tests.Acceptance;
using Ssd.Tests.Data;
using Ssd.Tests.Weights;

namespace Ssd.Tests.Cli;

/// <summary>`ssd eval` and `ssd detect --format coco` as a user calls them.</summary>
[NonParallelizable]
public class EvalCommandTests
{
    private string dir = "";

    [SetUp]
    public void MakeDir() => dir = Directory.CreateTempSubdirectory("ssd-eval-").FullName;

    [TearDown]
    public void RemoveDir() => Directory.Delete(dir, recursive: true);

    private static string Model => Path.Combine(WeightsPaths.RepoRoot, "examples", "shapes", "shapes_ssd.safetensors");

    internal static (int Rc, string Out, string Err) Ssd(params string[] args)
    {
        var (stdout, stderr) = (Console.Out, Console.Error);
        var (o, e) = (new StringWriter(), new StringWriter());
        Console.SetOut(o);
        Console.SetError(e);
        try { return (global::Ssd.Cli.Program.Main(args), o.ToString(), e.ToString()); }
        finally { Console.SetOut(stdout); Console.SetError(stderr); }
    }

    private static JsonElement ReadJson(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.Clone();
    }

    private static readonly string[] CocoKeys = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl", "per_class"];

    /// <summary>
    /// README's held-out evaluation as written (its out/ folders moved; CPU backend, --json and --detections-out
    /// added): `ssd datasets shapes --seed 1000 --count 200` writes the held-out set and the bundled model, trained by
    /// `ssd train`, scores on it the mAP published in examples/shapes/evaluation.json (written by the same command
    /// when the model was made), within 0.001 (other SIMD paths round differently); its --detections-out file
    /// scored again gives the same numbers; --plot writes one PNG per class and an overview.
    /// </summary>
    [Test]
    public void BundledModelReproducesItsHeldOutMap()
    {
        var published = ReadJson(Path.Combine(WeightsPaths.RepoRoot, "examples", "shapes", "evaluation.json"));
        string heldout = Path.Combine(dir, "heldout"), json = Path.Combine(dir, "eval.json"), dets = Path.Combine(dir, "dets.json"), plots = Path.Combine(dir, "plots");
        string[] ReadmeLine(string start)
        {
            var line = File.ReadAllLines(Path.Combine(WeightsPaths.RepoRoot, "README.md")).First(l => l.StartsWith(start, StringComparison.Ordinal));
            return line["./ssd ".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)
                .Select(a => a.Replace("out/heldout", heldout).Replace("out/pr", plots))
                .Select(a => a.StartsWith("examples/", StringComparison.Ordinal) ? Path.Combine(WeightsPaths.RepoRoot, a) : a).ToArray();
        }
        var make = ReadmeLine("./ssd datasets shapes --seed 1000 ");
        Assert.That(make, Does.Contain("--count").And.Contain("200"));
        var made = Ssd(make);
        Assert.That(made.Rc, Is.EqualTo(0), made.Err);
        string instances = Path.Combine(heldout, "instances.json"), images = Path.Combine(heldout, "images");

        var args = ReadmeLine("./ssd eval --model examples/shapes/").Concat(["--backend", "cpu", "--json", json, "--detections-out", dets]).ToArray();
        Assert.That(args, Does.Contain("--metric").And.Contain("voc2010").And.Contain($"coco:{instances}:{images}"));
        var (rc, stdout, stderr) = Ssd(args);
        Assert.That(rc, Is.EqualTo(0), stderr);
        Assert.That(stdout, Does.Contain("200 images in").And.Contain("images/s").And.Contain("mAP (voc2010"));
        Assert.That(stderr, Does.Contain("images/s, ETA"), "progress lines when the output is not a terminal");

        var r = ReadJson(json);
        Assert.That(r.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "mAP", "per_class" }));
        double map = r.GetProperty("mAP").GetDouble();
        TestContext.Out.WriteLine($"Ssd mAP {map:F6}; evaluation.json {published.GetProperty("mAP").GetDouble():F6}");
        Assert.That(map, Is.EqualTo(published.GetProperty("mAP").GetDouble()).Within(0.001));
        Assert.That(map, Is.GreaterThanOrEqualTo(0.95), "issue 12's target for the bundled model");
        var perClass = r.GetProperty("per_class");
        Assert.That(perClass.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "circle", "square", "triangle", "star" }));
        foreach (var c in published.GetProperty("per_class").EnumerateObject())
            Assert.That(perClass.GetProperty(c.Name).GetProperty("AP").GetDouble(), Is.EqualTo(c.Value.GetProperty("AP").GetDouble()).Within(0.001), c.Name);

        // The detections written score the same without the model.
        string again = Path.Combine(dir, "again.json");
        var second = Ssd("eval", "--detections", dets, "--ground-truth", $"coco:{instances}", "--metric", "voc2010", "--json", again);
        Assert.That(second.Rc, Is.EqualTo(0), second.Err);
        Assert.That(File.ReadAllText(again), Is.EqualTo(File.ReadAllText(json)));

        var pngs = Directory.GetFiles(plots).Select(Path.GetFileName).Order().ToArray();
        Assert.That(pngs, Is.EqualTo(new[] { "pr_circle.png", "pr_overview.png", "pr_square.png", "pr_star.png", "pr_triangle.png" }));
        foreach (var png in Directory.GetFiles(plots))
            Assert.That(File.ReadAllBytes(png).Take(8), Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }));
    }

    /// <summary>
    /// Ssd's inference and metric against torchvision's on the same pixels: the earlier example model, trained by
    /// torchvision (examples/shapes/torchvision/shapes_ssd.pth), converted by `ssd convert` and scored by `ssd eval`
    /// over the 200 held-out images of the Python generator (seed 1000) written losslessly by
    /// tools/example/export_heldout.py, gives the mAP torchvision's own inference gives on those files (within 1e-4)
    /// and the one evaluate_example.py published on the generated pixels (examples/shapes/torchvision/evaluation.json,
    /// 0.9009; within 0.002, per class too).
    /// </summary>
    [Test]
    public void TorchvisionsModelScoresAsTorchvisionScoresIt()
    {
        const string script = "../example/export_heldout.py --out tests/Ssd.Tests/Fixtures/generated/shapes_heldout --ext png --reference examples/shapes/torchvision/shapes_ssd.pth";
        var instances = PeerFixtures.Generated("shapes_heldout", "instances.json", script);
        var reference = ReadJson(PeerFixtures.Generated("shapes_heldout", "reference.json", script));
        var images = Path.Combine(Path.GetDirectoryName(instances)!, "images");
        string shapes = Path.Combine(WeightsPaths.RepoRoot, "examples", "shapes");
        var published = ReadJson(Path.Combine(shapes, "torchvision", "evaluation.json"));
        string model = Path.Combine(dir, "torchvision.safetensors"), json = Path.Combine(dir, "eval.json");
        var converted = Ssd("convert", Path.Combine(shapes, "torchvision", "shapes_ssd.pth"), "--classes-file", Path.Combine(shapes, "classes.txt"), "-o", model);
        Assert.That(converted.Rc, Is.EqualTo(0), converted.Err);
        var (rc, _, stderr) = Ssd("eval", "--model", model, "--ground-truth", $"coco:{instances}:{images}", "--metric", "voc2010", "--backend", "cpu", "--json", json);
        Assert.That(rc, Is.EqualTo(0), stderr);
        var r = ReadJson(json);
        double map = r.GetProperty("mAP").GetDouble();
        TestContext.Out.WriteLine($"Ssd mAP {map:F6}; torchvision on the same files {reference.GetProperty("mAP").GetDouble():F6}; evaluation.json {published.GetProperty("mAP").GetDouble()}");
        Assert.That(map, Is.EqualTo(reference.GetProperty("mAP").GetDouble()).Within(1e-4), "the same pixels through torchvision");
        Assert.That(map, Is.EqualTo(published.GetProperty("mAP").GetDouble()).Within(0.002));
        foreach (var c in published.GetProperty("per_class").EnumerateObject())
            Assert.That(r.GetProperty("per_class").GetProperty(c.Name).GetProperty("AP").GetDouble(), Is.EqualTo(c.Value.GetProperty("ap50").GetDouble()).Within(0.002), c.Name);
    }

    [Test]
    public void CocoJsonHasTheSchemaAndThePycocotoolsNumbers()
    {
        var expected = EvalFixtures.Expected("coco").GetProperty("coco");
        string json = Path.Combine(dir, "coco.json");
        var (rc, stdout, stderr) = Ssd("eval", "--detections", EvalFixtures.File("coco", "results.json"),
            "--ground-truth", $"coco:{EvalFixtures.File("coco", "instances.json")}", "--json", json);
        Assert.That(rc, Is.EqualTo(0), stderr);
        Assert.That(stdout, Does.Contain("Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]"));
        Assert.That(stderr, Does.Contain("2 annotated boxes skipped"));
        var r = ReadJson(json);
        Assert.That(r.EnumerateObject().Select(p => p.Name), Is.EqualTo(CocoKeys));
        var stats = expected.GetProperty("stats").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        for (int i = 0; i < 12; i++) Assert.That(r.GetProperty(CocoKeys[i]).GetDouble(), Is.EqualTo(stats[i]).Within(1e-9), CocoKeys[i]);
        var perClass = r.GetProperty("per_class");
        Assert.That(perClass.EnumerateObject().Select(p => p.Name), Is.EqualTo(expected.GetProperty("per_class").EnumerateObject().Select(p => p.Name)));
        Assert.That(perClass.GetProperty("orange").GetProperty("AP").ValueKind, Is.EqualTo(JsonValueKind.Null), "no ground truth");
        Assert.That(perClass.GetProperty("stop sign").GetProperty("AP").GetDouble(),
            Is.EqualTo(expected.GetProperty("per_class").GetProperty("stop sign").GetDouble()).Within(1e-9));
    }

    [TestCase("voc07")]
    [TestCase("voc2010")]
    public void VocMetricOnACocoSet(string metric)
    {
        var expected = EvalFixtures.Expected("coco").GetProperty(metric);
        string json = Path.Combine(dir, "voc.json");
        var (rc, _, stderr) = Ssd("eval", "--detections", EvalFixtures.File("coco", "results.json"),
            "--ground-truth", $"coco:{EvalFixtures.File("coco", "instances.json")}", "--metric", metric, "--json", json);
        Assert.That(rc, Is.EqualTo(0), stderr);
        var r = ReadJson(json);
        Assert.That(r.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "mAP", "per_class" }));
        Assert.That(r.GetProperty("mAP").GetDouble(), Is.EqualTo(expected.GetProperty("mAP").GetDouble()).Within(1e-9));
    }

    [Test]
    public void DetectJsonOnAVocSetDefaultsToVoc07()
    {
        var split = EvalFixtures.File("voc", Path.Combine("VOC", "ImageSets", "Main", "test.txt"));
        var voc = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(split)!, "..", ".."));
        string json = Path.Combine(dir, "voc.json");
        var (rc, stdout, stderr) = Ssd("eval", "--detections", EvalFixtures.File("voc", "detections.json"), "--ground-truth", $"voc:{voc}", "--json", json);
        Assert.That(rc, Is.EqualTo(0), stderr);
        Assert.That(stdout, Does.Contain("metric voc07"));
        Assert.That(ReadJson(json).GetProperty("mAP").GetDouble(),
            Is.EqualTo(EvalFixtures.Expected("voc").GetProperty("voc07").GetProperty("mAP").GetDouble()).Within(1e-9));
    }

    [Test]
    public void DetectFormatCocoIsScoredByEval()
    {
        // ssd detect --format coco on two sample images, then eval against their ground truth written as COCO.
        var shapes = Path.Combine(WeightsPaths.RepoRoot, "examples", "shapes");
        string results = Path.Combine(dir, "results.json"), plain = Path.Combine(dir, "plain.json");
        var (rc, _, stderr) = Ssd("detect", "--model", Model, Path.Combine(shapes, "shapes_002.jpg"), Path.Combine(shapes, "shapes_004.jpg"),
            "--backend", "cpu", "--threshold", "0.01", "--json", results, "--format", "coco");
        Assert.That(rc, Is.EqualTo(0), stderr);
        var rows = ReadJson(results).EnumerateArray().ToList();
        Assert.That(rows, Is.Not.Empty);
        Assert.That(rows.Select(r => r.GetProperty("image_id").GetString()).Distinct(), Is.EquivalentTo(new[] { "shapes_002", "shapes_004" }));
        foreach (var r in rows)
        {
            Assert.That(r.GetProperty("category_id").GetInt32(), Is.InRange(1, 4));
            Assert.That(r.GetProperty("bbox").GetArrayLength(), Is.EqualTo(4));
            Assert.That(r.GetProperty("bbox")[2].GetDouble(), Is.GreaterThanOrEqualTo(0));
        }
        Assert.That(Ssd("detect", "--model", Model, Path.Combine(shapes, "shapes_002.jpg"), Path.Combine(shapes, "shapes_004.jpg"),
            "--backend", "cpu", "--threshold", "0.01", "--json", plain).Rc, Is.EqualTo(0));

        var gt = ReadJson(Path.Combine(shapes, "ground_truth.json")).GetProperty("ground_truth");
        var classes = File.ReadAllLines(Path.Combine(shapes, "classes.txt")).Where(l => l.Length > 0).ToList();
        var names = new[] { "shapes_002.jpg", "shapes_004.jpg" };
        var coco = new
        {
            images = names.Select((n, i) => new { id = i + 1, file_name = n, width = 300, height = 300 }),
            annotations = names.SelectMany((n, i) => gt.GetProperty(n).EnumerateArray().Select(o => (Image: i + 1, Object: o)))
                .Select((x, k) =>
                {
                    var b = x.Object.GetProperty("box_xyxy").EnumerateArray().Select(v => v.GetDouble()).ToArray();
                    return new { id = k + 1, image_id = x.Image, category_id = classes.IndexOf(x.Object.GetProperty("label").GetString()!) + 1,
                        bbox = new[] { b[0], b[1], b[2] - b[0], b[3] - b[1] }, area = (b[2] - b[0]) * (b[3] - b[1]), iscrowd = 0 };
                }),
            categories = classes.Select((c, i) => new { id = i + 1, name = c }),
        };
        var instances = Path.Combine(dir, "instances.json");
        File.WriteAllText(instances, JsonSerializer.Serialize(coco));
        string a = Path.Combine(dir, "a.json"), b2 = Path.Combine(dir, "b.json");
        var fromCoco = Ssd("eval", "--detections", results, "--ground-truth", $"coco:{instances}", "--metric", "voc2010", "--json", a);
        var fromPlain = Ssd("eval", "--detections", plain, "--ground-truth", $"coco:{instances}", "--metric", "voc2010", "--json", b2);
        Assert.That(fromCoco.Rc, Is.EqualTo(0), fromCoco.Err);
        Assert.That(fromPlain.Rc, Is.EqualTo(0), fromPlain.Err);
        Assert.That(fromCoco.Err + fromPlain.Err, Does.Not.Contain("left out"), "every image and class found");
        Assert.That(ReadJson(a).GetProperty("mAP").GetDouble(), Is.GreaterThan(0.3));
        Assert.That(ReadJson(b2).GetProperty("mAP").GetDouble(), Is.EqualTo(ReadJson(a).GetProperty("mAP").GetDouble()).Within(1e-6),
            "both formats of the same detections");
    }

    [TestCase(new[] { "--detections", "x.json", "--model", "m.safetensors" }, "either --model")]
    [TestCase(new string[0], "either --model")]
    [TestCase(new[] { "--detections", "x.json", "--metric", "map" }, "unknown metric 'map'")]
    [TestCase(new[] { "--detections", "x.json", "--batch", "0" }, "--batch must be positive")]
    [TestCase(new[] { "--detections", "x.json", "--backend", "tpu" }, "unknown backend 'tpu'")]
    [TestCase(new[] { "--detections", "x.json", "--detections-out", "y.json" }, "--detections-out needs --model")]
    public void UsageErrorsExitWithTwo(string[] args, string message)
    {
        var (rc, _, stderr) = Ssd(["eval", "--ground-truth", "coco:nowhere.json", .. args]);
        Assert.That(rc, Is.EqualTo(2));
        Assert.That(stderr, Does.Contain(message));
    }

    [Test]
    public void UnknownDataSetFormatIsAUsageError()
    {
        var (rc, _, stderr) = Ssd("eval", "--detections", "x.json", "--ground-truth", "yolo:/data");
        Assert.That(rc, Is.EqualTo(2));
        Assert.That(stderr, Does.Contain("voc:VOC_DIR[:SPLIT], coco:INSTANCES.json[:IMAGE_DIR] or shapes:SEED:COUNT"));
    }

    [Test]
    public void BadGroundTruthAndDetectionsExitWithOne()
    {
        var missing = Ssd("eval", "--detections", "x.json", "--ground-truth", $"coco:{Path.Combine(dir, "none.json")}");
        Assert.That((missing.Rc, missing.Err), Is.EqualTo((1, $"error: {Path.Combine(dir, "none.json")}: no such file\n")));
        var bad = Path.Combine(dir, "bad.json");
        File.WriteAllText(bad, "[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, 3], \"score\": 0.5}]");
        var (rc, _, stderr) = Ssd("eval", "--detections", bad, "--ground-truth", $"coco:{EvalFixtures.File("coco", "instances.json")}");
        Assert.That(rc, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain($"{bad}: [0].bbox: 3 numbers, expected 4"));
        Assert.That(stderr, Does.Not.Contain("   at "), "no stack trace");
    }

    [Test]
    public void DetectionsOnImagesOrClassesTheGroundTruthLacksAreCountedAndLeftOut()
    {
        var results = Path.Combine(dir, "results.json");
        var instances = EvalFixtures.File("coco", "instances.json");
        var someImage = ReadJson(instances).GetProperty("images")[0].GetProperty("id").GetInt64();
        File.WriteAllText(results, $"[{{\"image_id\": 4242424242, \"category_id\": 1, \"bbox\": [1, 2, 3, 4], \"score\": 0.5}}," +
            $"{{\"image_id\": {someImage}, \"category_id\": 2, \"bbox\": [1, 2, 3, 4], \"score\": 0.5}}," +
            $"{{\"image_id\": {someImage}, \"category_id\": 1, \"bbox\": [1, 2, 3, 4], \"score\": 0.5}}]");
        var (rc, stdout, stderr) = Ssd("eval", "--detections", results, "--ground-truth", $"coco:{instances}");
        Assert.That(rc, Is.EqualTo(0), stderr);
        Assert.That(stderr, Does.Contain("1 detections left out: images not in the ground truth: 4242424242 (1)"));
        Assert.That(stderr, Does.Contain("1 detections left out: classes not in the ground truth: category 2 (1)"));
        Assert.That(stdout, Does.Contain("1 scored"));
    }

    [Test]
    public void ModelClassesMustCoverTheDataSetClasses()
    {
        var split = EvalFixtures.File("voc", Path.Combine("VOC", "ImageSets", "Main", "test.txt"));
        var voc = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(split)!, "..", ".."));
        var (rc, _, stderr) = Ssd("eval", "--model", Model, "--ground-truth", $"voc:{voc}:test", "--backend", "cpu");
        Assert.That(rc, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain("4 of the data set's 4 classes have no model class of the same name: 'bird', 'car', 'dog', 'person'"));
        Assert.That(stderr, Does.Contain("'circle', 'square', 'triangle', 'star'"));
    }

    [Test]
    public void MissingImagesAreAnErrorBeforeAnyWork()
    {
        var instances = Path.Combine(dir, "instances.json");
        File.WriteAllText(instances, "{\"images\":[{\"id\":1,\"file_name\":\"gone.png\"}],\"annotations\":[],\"categories\":[{\"id\":1,\"name\":\"circle\"}]}");
        var (rc, _, stderr) = Ssd("eval", "--model", Model, "--ground-truth", $"coco:{instances}:{dir}", "--backend", "cpu");
        Assert.That(rc, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain($"{Path.Combine(dir, "gone.png")}: missing image"));
    }

    [Test]
    public void ACorruptImageIsAnErrorNamingIt()
    {
        var instances = Path.Combine(dir, "instances.json");
        // Not an image at all. (A JPEG cut to its first 10 bytes makes today's StbImageSharp decoder loop forever, in
        // `ssd detect` too; the SkiaSharp decoder replacing it handles truncation.)
        File.WriteAllText(Path.Combine(dir, "cut.jpg"), "this is not an image");
        File.WriteAllText(instances, "{\"images\":[{\"id\":1,\"file_name\":\"cut.jpg\"}],\"annotations\":[],\"categories\":[{\"id\":1,\"name\":\"circle\"}]}");
        var (rc, _, stderr) = Ssd("eval", "--model", Model, "--ground-truth", $"coco:{instances}:{dir}", "--backend", "cpu");
        Assert.That(rc, Is.EqualTo(1));
        Assert.That(stderr, Does.StartWith($"error: {Path.Combine(dir, "cut.jpg")}: "));
        Assert.That(stderr, Does.Not.Contain("   at "));
    }
}
