using System.Text.Json;
using Ssd.Cli;
using Ssd.Engine.Imaging;
using Ssd.Imaging;
using static Ssd.Tests.Cli.CliRunner;

namespace Ssd.Tests.Cli;

/// <summary>
/// `ssd detect` as scripts use it (issue 13's CLI, issue 16 items 3, 6, 8): what it prints, the JSON document, the
/// inputs it takes, the exit codes, and that outputs are checked first, written atomically and never collide.
/// </summary>
public class DetectCommandTests
{
    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();

    [Test]
    public void PrintsALinePerImageAndWhereTheOutputsWent()
    {
        using var dir = Temp();
        var r = Run("detect", "--model", ShapesModel, Example("shapes_002.jpg"), Example("shapes_004.jpg"), "--json", dir["d.json"], "--annotate", dir["ann"]);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.Ok), r.ToString());
        var lines = r.Out.Trim().Split('\n');
        Assert.That(lines, Has.Length.EqualTo(3), r.Out);
        Assert.That(lines[0], Does.StartWith(Example("shapes_002.jpg") + ": 300x300, ").And.Contain(" detection").And.EndWith($"-> {dir["ann"]}/shapes_002.png"));
        Assert.That(lines[2], Does.Match(@"^2 of 2 inputs done, \d+ detections; detections -> .*d\.json; annotated images -> .*ann$"));
        Assert.That(r.Err, Is.Empty);
        Assert.That(dir.Files(), Is.EqualTo(new[] { "ann/shapes_002.png", "ann/shapes_004.png", "d.json" }));
    }

    [Test]
    public void JsonHasASchemaVersionTheThresholdAndEveryDetection()
    {
        using var dir = Temp();
        var r = Run("detect", "--model", ShapesModel, Example("shapes_001.jpg"), dir["missing.jpg"], "--json", dir["d.json"]);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.InputsFailed), r.ToString());
        var doc = Json(File.ReadAllText(dir["d.json"]));
        Assert.That(doc.GetProperty("schema").GetInt32(), Is.EqualTo(DetectionJson.Schema));
        Assert.That(doc.GetProperty("threshold").GetSingle(), Is.EqualTo(0.5f), "detect's default threshold");
        Assert.That(doc.GetProperty("model").GetString(), Is.Not.Empty);
        var image = doc.GetProperty("images")[0];
        Assert.That(image.GetProperty("path").GetString(), Is.EqualTo(Example("shapes_001.jpg")));
        Assert.That((image.GetProperty("width").GetInt32(), image.GetProperty("height").GetInt32()), Is.EqualTo((300, 300)));
        var detections = image.GetProperty("detections").EnumerateArray().ToList();
        Assert.That(detections, Is.Not.Empty);
        foreach (var d in detections)
        {
            Assert.That(d.GetProperty("score").GetSingle(), Is.GreaterThan(0.5f));
            Assert.That(d.GetProperty("box").GetArrayLength(), Is.EqualTo(4));
            Assert.That(d.GetProperty("label").GetString(), Is.Not.Empty);
            Assert.That(d.GetProperty("class_id").GetInt32(), Is.GreaterThan(0));
        }
        Assert.That(image.TryGetProperty("annotated", out _), Is.False, "no annotated copy asked for");
        var error = doc.GetProperty("errors")[0];
        Assert.That(error.GetProperty("path").GetString(), Is.EqualTo(dir["missing.jpg"]));
        Assert.That(error.GetProperty("error").GetString(), Does.Contain("no such file"));
    }

    [Test]
    public void DefaultThresholdIsHalfAndThresholdZeroShowsTheModelsOwnCut()
    {
        var @default = Json(Run("detect", "--model", ShapesModel, Example("shapes_005.jpg"), "--json", "-").Out);
        var all = Json(Run("detect", "--model", ShapesModel, Example("shapes_005.jpg"), "--json", "-", "--threshold", "0").Out);
        float[] Scores(JsonElement doc) => doc.GetProperty("images")[0].GetProperty("detections").EnumerateArray().Select(d => d.GetProperty("score").GetSingle()).ToArray();
        Assert.That(Scores(@default), Is.All.GreaterThan(0.5f));
        Assert.That(Scores(all).Length, Is.GreaterThan(Scores(@default).Length));
        Assert.That(Scores(all).Where(s => s > 0.5f), Is.EqualTo(Scores(@default)), "the same detections above 0.5, in the same order");
    }

    [Test]
    public void JsonToStdoutKeepsStdoutPureAndWritesNoFileNamedDash()
    {
        using var dir = Temp();
        var cwd = Environment.CurrentDirectory;
        Environment.CurrentDirectory = dir.Path;
        try
        {
            var r = Run("detect", "--model", ShapesModel, Example("shapes_002.jpg"), "--json", "-");
            Assert.That(r.Code, Is.EqualTo(ExitCodes.Ok), r.ToString());
            Assert.That(Json(r.Out).GetProperty("images").GetArrayLength(), Is.EqualTo(1), "stdout is the JSON document alone");
            Assert.That(r.Err, Does.Contain("shapes_002.jpg: 300x300").And.Contain("1 of 1 input done"), "the human lines went to stderr");
            Assert.That(dir.Files(), Is.Empty, "no file named '-'");
        }
        finally { Environment.CurrentDirectory = cwd; }
    }

    /// <summary>
    /// `--format coco` is pycocotools' loadRes format: a list of {image_id, category_id, bbox [x, y, w, h], score}
    /// (plus the label, which loadRes ignores), one row per detection of the plain JSON, in its order: bbox is the
    /// plain [x1, y1, x2, y2] as corner and size, category_id the class id, image_id the number of a numeric file stem
    /// (COCO's 000000000042.jpg is 42), else the stem; `--json -` writes the same list to stdout.
    /// </summary>
    [Test]
    public void FormatCocoWritesTheCocoResultsRows()
    {
        using var dir = Temp();
        File.Copy(Example("shapes_002.jpg"), dir["000000000042.jpg"]);
        File.Copy(Example("shapes_004.jpg"), dir["photo_b.jpg"]);
        string[] inputs = [dir["000000000042.jpg"], dir["photo_b.jpg"]];
        var plain = Run(["detect", "--model", ShapesModel, .. inputs, "--threshold", "0.2", "--json", dir["plain.json"]]);
        var coco = Run(["detect", "--model", ShapesModel, .. inputs, "--threshold", "0.2", "--json", dir["coco.json"], "--format", "coco"]);
        var stdout = Run(["detect", "--model", ShapesModel, .. inputs, "--threshold", "0.2", "--json", "-", "--format", "coco"]);
        foreach (var r in new[] { plain, coco, stdout }) Assert.That(r.Code, Is.EqualTo(ExitCodes.Ok), r.ToString());

        var expected = Json(File.ReadAllText(dir["plain.json"])).GetProperty("images").EnumerateArray()
            .SelectMany(i => i.GetProperty("detections").EnumerateArray().Select(d => (Path: i.GetProperty("path").GetString()!, Detection: d))).ToList();
        Assert.That(expected.Select(e => e.Path).Distinct().Count(), Is.EqualTo(2), "both photos have detections");
        var rows = Json(File.ReadAllText(dir["coco.json"]));
        Assert.That(rows.ValueKind, Is.EqualTo(JsonValueKind.Array), "a COCO results file is a list");
        Assert.That(rows.GetArrayLength(), Is.EqualTo(expected.Count), "one row per detection");
        Assert.That(Json(stdout.Out).ToString(), Is.EqualTo(rows.ToString()), "--json - writes the same rows to stdout");
        for (int k = 0; k < expected.Count; k++)
        {
            var (path, d) = expected[k];
            var row = rows[k];
            Assert.That(row.EnumerateObject().Select(p => p.Name).Order(), Is.EqualTo(new[] { "bbox", "category_id", "image_id", "label", "score" }), $"row {k}");
            var imageId = row.GetProperty("image_id");
            if (Path.GetFileName(path) == "000000000042.jpg")
                Assert.That((imageId.ValueKind, imageId.GetInt64()), Is.EqualTo((JsonValueKind.Number, 42L)), $"row {k}: a numeric stem is the COCO image id");
            else
                Assert.That(imageId.GetString(), Is.EqualTo("photo_b"), $"row {k}");
            Assert.That(row.GetProperty("category_id").GetInt32(), Is.EqualTo(d.GetProperty("class_id").GetInt32()), $"row {k}");
            Assert.That(row.GetProperty("label").GetString(), Is.EqualTo(d.GetProperty("label").GetString()), $"row {k}");
            Assert.That(row.GetProperty("score").GetDouble(), Is.EqualTo(d.GetProperty("score").GetDouble()).Within(1e-6), $"row {k}");
            var box = d.GetProperty("box").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            var bbox = row.GetProperty("bbox").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            Assert.That(bbox, Is.EqualTo(new[] { box[0], box[1], box[2] - box[0], box[3] - box[1] }).Within(1e-4), $"row {k}: [x, y, w, h]");
        }
    }

    [Test]
    public void InputsAreFilesFoldersGlobsAndRecursiveFolders()
    {
        using var dir = Temp();
        Directory.CreateDirectory(dir["a/b"]);
        File.Copy(Example("shapes_001.jpg"), dir["a/one.jpg"]);
        File.Copy(Example("shapes_002.jpg"), dir["a/b/two.JPG"]);
        File.Copy(Example("shapes_004.jpg"), dir["a/b/three.jpeg"]);
        File.WriteAllText(dir["a/notes.txt"], "not an image");
        File.CreateSymbolicLink(dir["a/b/link.jpg"], dir["a/one.jpg"]);   // a link to a file is an input
        Directory.CreateSymbolicLink(dir["a/b/loop"], dir["a"]);          // a link to a folder is not followed: no loop
        string[] Paths(params string[] inputs) => Json(Run(["detect", "--model", ShapesModel, "--json", "-", .. inputs]).Out)
            .GetProperty("images").EnumerateArray().Select(i => Path.GetRelativePath(dir.Path, i.GetProperty("path").GetString()!)).ToArray();

        Assert.That(Paths(dir["a"]), Is.EqualTo(new[] { "a/one.jpg" }), "a folder: its images, not its subfolders' nor other files");
        Assert.That(Paths(dir["a"], "--recursive"), Is.EqualTo(new[] { "a/b/link.jpg", "a/b/three.jpeg", "a/b/two.JPG", "a/one.jpg" }), "sorted by path");
        Assert.That(Paths(dir["a/**/*.jp*g"]), Is.EqualTo(new[] { "a/b/link.jpg", "a/b/three.jpeg", "a/one.jpg" }), "a glob, case-sensitive");
        Assert.That(Paths(dir["a/*/t*"]), Is.EqualTo(new[] { "a/b/three.jpeg", "a/b/two.JPG" }), "* within one folder level");
        Assert.That(Paths(dir["a/one.jpg"], dir["a"], dir["a/b/two.JPG"]), Is.EqualTo(new[] { "a/one.jpg", "a/b/two.JPG" }), "each file once, in the order given");

        var r = Run("detect", "--model", ShapesModel, dir["a/*.png"], dir["a/b"], dir["nothing"]);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.InputsFailed), r.ToString());
        r.AssertCleanErrors();
        Assert.That(r.Err, Does.Contain("a/*.png: no image file matches this pattern").And.Contain("nothing: no such file or folder"));
        Assert.That(r.Out, Does.Contain("3 of 5 inputs done"), "the folder's three images still ran");
    }

    /// <summary>issue 16 item 3 and 8: a cut JPEG, /dev/zero, a FIFO and a directory among the inputs fail alone, without hanging.</summary>
    [Test]
    public void BrokenAndSpecialInputsFailAloneAndNothingHangs()
    {
        using var dir = Temp();
        Directory.CreateDirectory(dir["in"]);
        File.WriteAllBytes(dir["in/cut.jpg"], File.ReadAllBytes(Example("shapes_002.jpg"))[..200]);
        File.Copy(Example("shapes_001.jpg"), dir["in/good.jpg"]);
        Assert.That(MakeFifo(dir["in/pipe.jpg"]), "mkfifo");
        var (r, _) = RunProcess(["detect", "--model", ShapesModel, dir["in"], "/dev/zero", "--json", dir["d.json"], "--annotate", dir["ann"]], timeout: TimeSpan.FromSeconds(90));
        Assert.That(r.Code, Is.EqualTo(ExitCodes.InputsFailed), r.ToString());
        r.AssertCleanErrors();
        Assert.That(r.Err, Does.Contain("cut.jpg: truncated image").And.Contain("pipe.jpg: empty, or not a regular file").And.Contain("/dev/zero: empty, or not a regular file"));
        var doc = Json(File.ReadAllText(dir["d.json"]));
        Assert.That(doc.GetProperty("images").EnumerateArray().Select(i => Path.GetFileName(i.GetProperty("path").GetString())), Is.EqualTo(new[] { "good.jpg" }));
        Assert.That(doc.GetProperty("errors").GetArrayLength(), Is.EqualTo(3));
        Assert.That(Directory.GetFiles(dir["ann"]).Select(Path.GetFileName), Is.EqualTo(new[] { "good.png" }), "no annotated copy of a broken input");
    }

    /// <summary>
    /// issue 13: --annotate DIR is checked first but created only when the first annotated image is written, so a
    /// call that fails early (a bad model, every image bad) leaves no folder, nested ones included; a folder that
    /// was there stays.
    /// </summary>
    [Test]
    public void AFailedCallLeavesNoAnnotateFolder()
    {
        using var dir = Temp();
        File.WriteAllBytes(dir["bad.safetensors"], new byte[64]);
        File.WriteAllBytes(dir["cut.jpg"], File.ReadAllBytes(Example("shapes_002.jpg"))[..200]);
        var r = Run("detect", "--model", dir["bad.safetensors"], Example("shapes_001.jpg"), "--annotate", dir["a/b/ann"]);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.ModelOrDevice), r.ToString());
        r.AssertCleanErrors();
        Assert.That(Directory.Exists(dir["a"]), Is.False, "a bad model: no folder made");
        r = Run("detect", "--model", ShapesModel, dir["cut.jpg"], "--annotate", dir["a/b/ann"]);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.InputsFailed), r.ToString());
        Assert.That(r.Err, Does.Contain("cut.jpg: truncated image"));
        Assert.That(Directory.Exists(dir["a"]), Is.False, "no image annotated: no folder made");
        Directory.CreateDirectory(dir["kept"]);
        r = Run("detect", "--model", dir["bad.safetensors"], Example("shapes_001.jpg"), "--annotate", dir["kept"]);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.ModelOrDevice), r.ToString());
        Assert.That(Directory.Exists(dir["kept"]), Is.True, "a folder that was there stays");
        r = Run("detect", "--model", ShapesModel, dir["cut.jpg"], Example("shapes_001.jpg"), "--annotate", dir["a/b/ann"]);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.InputsFailed), r.ToString());
        Assert.That(dir.Files(), Is.EqualTo(new[] { "a/b/ann/shapes_001.png", "bad.safetensors", "cut.jpg" }), "made for the first annotated image");
    }

    [Test]
    public void AFailedCallLeavesNoJsonFolder()
    {
        using var dir = Temp();
        File.WriteAllBytes(dir["bad.safetensors"], new byte[64]);
        File.WriteAllBytes(dir["cut.jpg"], File.ReadAllBytes(Example("shapes_002.jpg"))[..200]);
        var r = Run("detect", "--model", dir["bad.safetensors"], Example("shapes_001.jpg"), "--json", dir["j/k/d.json"]);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.ModelOrDevice), r.ToString());
        r.AssertCleanErrors();
        Assert.That(Directory.Exists(dir["j"]), Is.False, "a bad model: no folder made");
        r = Run("detect", "--model", ShapesModel, dir["cut.jpg"], "--json", dir["j/k/d.json"]);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.InputsFailed), r.ToString());
        Assert.That(Directory.Exists(dir["j"]), Is.False, "no image succeeded: no file, no folder");
        r = Run("detect", "--model", ShapesModel, dir["cut.jpg"], Example("shapes_001.jpg"), "--json", dir["j/k/d.json"]);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.InputsFailed), r.ToString());
        Assert.That(dir.Files(), Is.EqualTo(new[] { "bad.safetensors", "cut.jpg", "j/k/d.json" }), "made when the file is written");
    }

    [Test]
    public void AnnotatedNamesNeverCollide()
    {
        using var dir = Temp();
        foreach (var sub in new[] { "x", "y" }) Directory.CreateDirectory(dir[sub]);
        File.Copy(Example("shapes_001.jpg"), dir["x/photo.jpg"]);
        File.Copy(Example("shapes_002.jpg"), dir["y/photo.jpg"]);
        ImageEncoder.Save(ImageDecoder.Load(Example("shapes_004.jpg")), dir["x/photo.png"]);
        var r = Run("detect", "--model", ShapesModel, dir["x/photo.jpg"], dir["y/photo.jpg"], dir["x/photo.png"], "--annotate", dir["out"], "--json", dir["d.json"]);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.Ok), r.ToString());
        Assert.That(Directory.GetFiles(dir["out"]).Select(Path.GetFileName).Order(), Is.EqualTo(new[] { "photo-2.png", "photo-3.png", "photo.png" }));
        var annotated = Json(File.ReadAllText(dir["d.json"])).GetProperty("images").EnumerateArray().Select(i => Path.GetFileName(i.GetProperty("annotated").GetString())).ToArray();
        Assert.That(annotated, Is.EqualTo(new[] { "photo.png", "photo-2.png", "photo-3.png" }), "the JSON says which copy is whose");
        // Each copy is its own image with the boxes drawn: it differs from its source only where the boxes are.
        Assert.That(ImageDecoder.Load(dir["out/photo-2.png"]).Pixels, Is.Not.EqualTo(ImageDecoder.Load(dir["y/photo.jpg"]).Pixels));
    }

    /// <summary>issue 16 item 6: an output that is an input or the model is refused before any work; nothing is touched.</summary>
    [Test]
    public void OutputsThatWouldOverwriteAnInputOrTheModelAreRefusedFirst()
    {
        using var dir = Temp();
        File.Copy(ShapesModel, dir["model.safetensors"]);
        File.Copy(Example("shapes_001.jpg"), dir["photo.png"]);
        var before = dir.Files().ToDictionary(f => f, f => File.ReadAllBytes(dir[f]));
        foreach (var args in new[]
                 {
                     new[] { "--json", dir["model.safetensors"] },
                     new[] { "--json", dir["photo.png"] },
                     new[] { "--annotate", dir.Path },                  // photo.png's annotated copy would be photo.png
                 })
        {
            var r = Run(["detect", "--model", dir["model.safetensors"], dir["photo.png"], .. args]);
            Assert.That(r.Code, Is.EqualTo(ExitCodes.Usage), r.ToString());
            r.AssertCleanErrors();
            Assert.That(r.Err, Does.Contain("refusing to overwrite it"));
            Assert.That(r.Out, Is.Empty, "refused before any image was run");
        }
        // Through a symbolic link too.
        File.CreateSymbolicLink(dir["link.json"], dir["photo.png"]);
        Assert.That(Run("detect", "--model", dir["model.safetensors"], dir["photo.png"], "--json", dir["link.json"]).Code, Is.EqualTo(ExitCodes.Usage));
        foreach (var (f, bytes) in before) Assert.That(File.ReadAllBytes(dir[f]), Is.EqualTo(bytes), f);
    }

    /// <summary>The output is checked before the model is even loaded: a corrupt model with a bad --json path says usage (2), not model (3).</summary>
    [Test]
    public void ABadJsonPathFailsBeforeTheWork()
    {
        using var dir = Temp();
        File.WriteAllBytes(dir["bad.safetensors"], new byte[64]);
        File.WriteAllText(dir["file"], "x");
        var r = Run("detect", "--model", dir["bad.safetensors"], Example("shapes_001.jpg"), "--json", dir["file/d.json"]);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.Usage), r.ToString());
        r.AssertCleanErrors();
        Assert.That(r.Err, Does.Contain("--json").And.Contain("cannot write there"));
        r = Run("detect", "--model", dir["bad.safetensors"], Example("shapes_001.jpg"), "--annotate", dir["file"]);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.Usage), r.ToString());
        Assert.That(r.Err, Does.Contain("is a file; give a folder"));
    }

    /// <summary>issue 16 item 6: when every image fails, the previous JSON stays as it was and the exit code is 1.</summary>
    [Test]
    public void AllInputsFailingKeepsThePreviousJson()
    {
        using var dir = Temp();
        File.WriteAllText(dir["d.json"], "previous results");
        File.WriteAllBytes(dir["cut.jpg"], File.ReadAllBytes(Example("shapes_002.jpg"))[..200]);
        var r = Run("detect", "--model", ShapesModel, dir["cut.jpg"], "--json", dir["d.json"]);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.InputsFailed), r.ToString());
        r.AssertCleanErrors();
        Assert.That(r.Err, Does.Contain("not written (the previous file is kept)"));
        Assert.That(File.ReadAllText(dir["d.json"]), Is.EqualTo("previous results"));
        Assert.That(dir.Files(), Is.EqualTo(new[] { "cut.jpg", "d.json" }), "no temporary file");
    }

    /// <summary>issue 16 item 8: decoded pixels are bounded per image (refused from the header) and per batch (streamed).</summary>
    [Test]
    public void PixelBudgetsPerImageAndPerBatch()
    {
        using var dir = Temp();
        var big = ImageEncoder.EncodePng(new RgbImage(3000, 3000));  // 9 Mpx, ~30 KB of PNG
        for (int i = 0; i < 5; i++) File.WriteAllBytes(dir[$"big{i}.png"], big);
        var r = Run("detect", "--model", ShapesModel, dir["big0.png"], "--max-pixels", "5000000");
        Assert.That(r.Code, Is.EqualTo(ExitCodes.InputsFailed), r.ToString());
        r.AssertCleanErrors();
        Assert.That(r.Err, Does.Contain("big0.png: the image is 3000x3000 = 9,000,000 pixels, over the 5,000,000-pixel budget per image"));

        // Five 9 Mpx images (27 MB of RGB each): one per batch under a 9 Mpx batch budget, all five at once without it.
        var (small, basePeak) = RunProcess(["detect", "--model", ShapesModel, Example("shapes_001.jpg")]);
        var (streamed, streamedPeak) = RunProcess(["detect", "--model", ShapesModel, dir.Path, "--max-batch-pixels", "9000000", "--batch", "8"]);
        var (together, togetherPeak) = RunProcess(["detect", "--model", ShapesModel, dir.Path, "--batch", "8"]);
        foreach (var run in new[] { small, streamed, together }) Assert.That(run.Code, Is.EqualTo(ExitCodes.Ok), run.ToString());
        TestContext.Out.WriteLine($"peak resident memory: {basePeak >> 20} MiB for one small image, {streamedPeak >> 20} MiB for five 9 Mpx images "
            + $"one per batch, {togetherPeak >> 20} MiB five per batch");
        // The stated cost of a batch: at most 12 bytes per decoded pixel (3 for the RGB image, 4 for the decoder's
        // RGBA buffer while it runs, the rest the GC's slack).
        Assert.That(streamedPeak - basePeak, Is.LessThan(12L * 9_000_000), "one 9 Mpx batch at a time");
        Assert.That(togetherPeak - streamedPeak, Is.GreaterThan(2L * 27_000_000), "the batch budget is what kept the memory down");
    }

    private static bool MakeFifo(string path)
    {
        using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("mkfifo", path) { UseShellExecute = false })!;
        p.WaitForExit();
        return p.ExitCode == 0;
    }
}
