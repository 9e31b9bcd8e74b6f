using System.Text.Json;
using Ssd.Data;
using Ssd.Data.Coco;
using Ssd.Data.Metrics;
using Ssd.Data.Voc;

namespace Ssd.Tests.Data;

/// <summary>The data set readers: the real BCCD set against an independent parse, round trips, and bad input.</summary>
public class DataSetTests
{
    private string dir = "";

    [SetUp]
    public void MakeDir() => dir = Directory.CreateTempSubdirectory("ssd-data-").FullName;

    [TearDown]
    public void RemoveDir() => Directory.Delete(dir, recursive: true);

    [Test]
    public void BccdLoadsAsAnIndependentParseReadsIt()
    {
        var set = VocDataSet.Load(EvalFixtures.Bccd);
        using var doc = JsonDocument.Parse(File.ReadAllText(EvalFixtures.File("bccd", "annotations.json")));
        var reference = doc.RootElement.EnumerateArray().ToList();
        Assert.That(set.Images.Select(i => i.Id), Is.EqualTo(reference.Select(r => r.GetProperty("id").GetString())));
        Assert.That(set.Classes.Select(c => c.Name), Is.EqualTo(new[] { "Platelets", "RBC", "WBC" }));
        int skipped = 0;
        for (int i = 0; i < reference.Count; i++)
        {
            var r = reference[i];
            var image = set.Images[i];
            Assert.That(image.Width, Is.EqualTo(r.GetProperty("width").GetInt32()));
            Assert.That(image.Height, Is.EqualTo(r.GetProperty("height").GetInt32()));
            Assert.That(image.PixelOrigin, Is.EqualTo(1));
            Assert.That(File.Exists(image.FilePath), image.FilePath);
            var kept = r.GetProperty("objects").EnumerateArray().Where(o => !o.GetProperty("skipped").GetBoolean()).ToList();
            skipped += r.GetProperty("objects").GetArrayLength() - kept.Count;
            Assert.That(image.Objects, Has.Count.EqualTo(kept.Count), image.Id);
            for (int k = 0; k < kept.Count; k++)
            {
                var o = image.Objects[k];
                var box = kept[k].GetProperty("box").EnumerateArray().Select(v => v.GetDouble()).ToArray();
                Assert.That(set.Classes[o.ClassIndex].Name, Is.EqualTo(kept[k].GetProperty("name").GetString()));
                Assert.That(new[] { o.Box.X1, o.Box.Y1, o.Box.X2, o.Box.Y2 }, Is.EqualTo(box));
                Assert.That(o.Difficult, Is.EqualTo(kept[k].GetProperty("difficult").GetInt32() == 1));
                Assert.That(o.Truncated, Is.EqualTo(kept[k].GetProperty("truncated").GetInt32() == 1));
            }
        }
        Assert.That(skipped, Is.EqualTo(2), "BCCD has two point boxes (xmin == xmax)");
        Assert.That(set.Issues, Has.Count.EqualTo(skipped));
        Assert.That(set.Issues.Select(i => Path.GetFileName(i.File)), Is.EquivalentTo(new[] { "BloodImage_00338.xml", "BloodImage_00343.xml" }));
        Assert.That(set.Issues, Has.All.Property("Problem").Contains("degenerate"));
        Assert.That(set.ObjectCount, Is.EqualTo(4888 - 2));
    }

    [Test]
    public void BccdRoundTripsThroughTheVocWriter()
    {
        var set = VocDataSet.Load(EvalFixtures.Bccd, "trainval");
        VocWriter.Write(set, dir, "trainval");
        var back = VocDataSet.Load(dir, "trainval");
        AssertSameAnnotations(back, set);
        Assert.That(back.Issues, Is.Empty, "the skipped boxes are not written");
    }

    [Test]
    public void BccdSplitsCombineIntoTheWhole()
    {
        var combined = DataSetSpec.LoadAll($"voc:{EvalFixtures.Bccd}:trainval+voc:{EvalFixtures.Bccd}:test");
        Assert.That(combined.Images, Has.Count.EqualTo(292 + 72));
        Assert.That(combined.ObjectCount, Is.EqualTo(VocDataSet.Load(EvalFixtures.Bccd).ObjectCount));
        Assert.That(combined.Source, Does.Contain("+"));
        // Without a split the CLI's default is test when test.txt exists.
        Assert.That(DataSetSpec.LoadAll($"voc:{EvalFixtures.Bccd}").Images, Has.Count.EqualTo(72));
    }

    [Test]
    public void CocoRoundTripsThroughTheCocoWriter()
    {
        var set = CocoDataSet.Load(EvalFixtures.File("coco", "instances.json"));
        var path = Path.Combine(dir, "instances.json");
        CocoWriter.Write(set, path);
        var back = CocoDataSet.Load(path);
        AssertSameAnnotations(back, set);
        Assert.That(back.Classes, Is.EqualTo(set.Classes));
        Assert.That(back.Images.Select(i => i.CocoId), Is.EqualTo(set.Images.Select(i => i.CocoId)));
    }

    [Test]
    public void VocSetWrittenAsCocoScoresTheSame()
    {
        // The COCO view of a VOC set (difficult as crowd, boxes moved to pixels from 0) gives the same COCO metric.
        var split = EvalFixtures.File("voc", Path.Combine("VOC", "ImageSets", "Main", "test.txt"));
        var voc = VocDataSet.Load(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(split)!, "..", "..")), "test");
        var dets = DetectionFiles.Read(EvalFixtures.File("voc", "detections.json"), voc).Detections;
        var path = Path.Combine(dir, "voc.json");
        CocoWriter.Write(voc, path);
        var coco = CocoDataSet.Load(path);
        Assert.That(CocoEvaluator.Evaluate(coco, dets).Stats, Is.EqualTo(CocoEvaluator.Evaluate(voc, dets).Stats).Within(1e-12));
    }

    private static void AssertSameAnnotations(DetectionDataSet actual, DetectionDataSet expected)
    {
        Assert.That(actual.Images, Has.Count.EqualTo(expected.Images.Count));
        Assert.That(actual.Classes.Select(c => c.Name), Is.EqualTo(expected.Classes.Select(c => c.Name)));
        for (int i = 0; i < expected.Images.Count; i++)
        {
            var (a, e) = (actual.Images[i], expected.Images[i]);
            Assert.That((a.Id, a.FileName, a.Width, a.Height), Is.EqualTo((e.Id, e.FileName, e.Width, e.Height)));
            Assert.That(a.Objects.Select(o => (o.ClassIndex, o.Box, o.Difficult, o.Truncated, o.IsCrowd, o.Area)),
                Is.EqualTo(e.Objects.Select(o => (o.ClassIndex, o.Box, o.Difficult, o.Truncated, o.IsCrowd, o.Area))), e.Id);
        }
    }

    // ---- bad input -------------------------------------------------------------------------------------------------

    private string VocFolder(params (string Id, string Xml)[] files)
    {
        var root = Path.Combine(dir, "VOC");
        Directory.CreateDirectory(Path.Combine(root, "Annotations"));
        Directory.CreateDirectory(Path.Combine(root, "ImageSets", "Main"));
        foreach (var (id, xml) in files) File.WriteAllText(Path.Combine(root, "Annotations", id + ".xml"), xml);
        File.WriteAllText(Path.Combine(root, "ImageSets", "Main", "test.txt"), string.Concat(files.Select(f => f.Id + "\n")));
        return root;
    }

    private static string Xml(string objects, string size = "<size><width>100</width><height>80</height><depth>3</depth></size>") =>
        $"<annotation><filename>x.jpg</filename>{size}{objects}</annotation>";

    private static string Obj(string name, string box, string extra = "") =>
        $"<object><name>{name}</name>{extra}<bndbox>{box}</bndbox></object>";

    private const string Box = "<xmin>10</xmin><ymin>10</ymin><xmax>50</xmax><ymax>40</ymax>";

    [Test]
    public void MalformedVocXmlNamesTheFileAndLine()
    {
        var root = VocFolder(("a", Xml(Obj("cat", Box))), ("b", "<annotation><object><name>cat</name>"));
        var e = Assert.Throws<DataSetException>(() => VocDataSet.Load(root, "test"))!;
        Assert.That(e.File, Does.EndWith(Path.Combine("Annotations", "b.xml")));
        Assert.That(e.Message, Does.Contain("malformed XML"));
        Assert.That(e.Field, Does.StartWith("line "));
    }

    [TestCase("<xmin>10</xmin><ymin>10</ymin><xmax>5O</xmax><ymax>40</ymax>", "object[0].bndbox.xmax", "not a number")]
    [TestCase("<xmin>10</xmin><ymin>10</ymin><xmax>50</xmax>", "object[0].bndbox.ymax", "missing")]
    public void BadVocBoxNamesTheField(string box, string field, string problem)
    {
        var root = VocFolder(("a", Xml(Obj("cat", box))));
        var e = Assert.Throws<DataSetException>(() => VocDataSet.Load(root, "test"))!;
        Assert.That(e.Field, Is.EqualTo(field));
        Assert.That(e.Message, Does.Contain(problem));
    }

    [Test]
    public void VocFlagsThatAreNotZeroOrOneAreErrors()
    {
        var root = VocFolder(("a", Xml(Obj("cat", Box, "<difficult>Unspecified</difficult>"))));
        var e = Assert.Throws<DataSetException>(() => VocDataSet.Load(root, "test"))!;
        Assert.That(e.Field, Is.EqualTo("object[0].difficult"));
    }

    [Test]
    public void DegenerateAndOutOfRangeVocBoxesAreSkippedAndCounted()
    {
        var root = VocFolder(("a", Xml(
            Obj("cat", Box) +
            Obj("cat", "<xmin>30</xmin><ymin>10</ymin><xmax>30</xmax><ymax>40</ymax>") +   // no width
            Obj("cat", "<xmin>10</xmin><ymin>10</ymin><xmax>102</xmax><ymax>40</ymax>") +  // 2 px past the width 100
            Obj("cat", "<xmin>0</xmin><ymin>1</ymin><xmax>100</xmax><ymax>80</ymax>"))));  // the whole image: kept
        var set = VocDataSet.Load(root, "test");
        Assert.That(set.Images[0].Objects, Has.Count.EqualTo(2));
        Assert.That(set.Issues.Select(i => i.Field), Is.EqualTo(new[] { "object[1].bndbox", "object[2].bndbox" }));
        Assert.That(set.Issues[0].Problem, Does.Contain("degenerate"));
        Assert.That(set.Issues[1].Problem, Does.Contain("outside the image's width 100"));
    }

    [Test]
    public void UnknownClassAgainstAGivenListIsAnError()
    {
        var root = VocFolder(("a", Xml(Obj("cat", Box) + Obj("zebra", Box))));
        var e = Assert.Throws<DataSetException>(() => VocDataSet.Load(root, "test", ["cat", "dog"]))!;
        Assert.That(e.Field, Is.EqualTo("object[1].name"));
        Assert.That(e.Message, Does.Contain("unknown class 'zebra'").And.Contain("cat, dog"));
    }

    [Test]
    public void VocClassNamesMatchIgnoringCase()
    {
        var root = VocFolder(("a", Xml(Obj("Cat", Box))), ("b", Xml(Obj(" cat ", Box) + Obj("dog", Box))));
        var set = VocDataSet.Load(root, "test");
        Assert.That(set.Classes.Select(c => c.Name), Is.EqualTo(new[] { "Cat", "dog" }));
        Assert.That(set.Images[1].Objects[0].ClassIndex, Is.EqualTo(set.FindClass("CAT")));
    }

    [Test]
    public void MissingAnnotationFileAndSplitAreErrors()
    {
        var root = VocFolder(("a", Xml("")));
        File.AppendAllText(Path.Combine(root, "ImageSets", "Main", "test.txt"), "ghost\n");
        var e = Assert.Throws<DataSetException>(() => VocDataSet.Load(root, "test"))!;
        Assert.That(e.File, Does.EndWith("ghost.xml"));
        Assert.That(e.Message, Does.Contain("missing annotation file"));
        var s = Assert.Throws<DataSetException>(() => VocDataSet.Load(root, "val"))!;
        Assert.That(s.Message, Does.Contain("no such split 'val'").And.Contain("test"));
        Assert.Throws<DataSetException>(() => VocDataSet.Load(dir, "test"), "a folder without Annotations/");
    }

    [Test]
    public void XmlEntitiesAreNotExpanded()
    {
        var root = VocFolder(("a", "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><annotation><filename>&x;</filename></annotation>"));
        var e = Assert.Throws<DataSetException>(() => VocDataSet.Load(root, "test"))!;
        Assert.That(e.Message, Does.Contain("DTD"));
    }

    [Test]
    public void ImagesWithoutObjectsAreKept()
    {
        var root = VocFolder(("a", Xml("")), ("b", Xml(Obj("cat", Box))));
        var set = VocDataSet.Load(root, "test");
        Assert.That(set.Images.Select(i => i.Objects.Count), Is.EqualTo(new[] { 0, 1 }));
    }

    private string Json(string name, string text)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private const string Categories = "\"categories\":[{\"id\":3,\"name\":\"car\"},{\"id\":1,\"name\":\"person\"}]";

    [TestCase("{\"images\":[{\"id\":1,\"file_name\":\"a.jpg\"}],\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":3,\"bbox\":[1,2,3]}]," + Categories + "}",
        "annotations[0].bbox", "3 numbers")]
    [TestCase("{\"images\":[{\"id\":1,\"file_name\":\"a.jpg\"}],\"annotations\":[{\"id\":1,\"image_id\":2,\"category_id\":3,\"bbox\":[1,2,3,4]}]," + Categories + "}",
        "annotations[0].image_id", "no image has id 2")]
    [TestCase("{\"images\":[{\"id\":1,\"file_name\":\"a.jpg\"}],\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":4,\"bbox\":[1,2,3,4]}]," + Categories + "}",
        "annotations[0].category_id", "unknown class")]
    [TestCase("{\"images\":[{\"id\":1,\"file_name\":\"a.jpg\"}],\"annotations\":[{\"id\":7,\"image_id\":1,\"category_id\":3,\"bbox\":[1,2,3,4]},{\"id\":7,\"image_id\":1,\"category_id\":3,\"bbox\":[1,2,3,4]}]," + Categories + "}",
        "annotations[1].id", "used twice")]
    [TestCase("{\"images\":[{\"id\":1,\"file_name\":\"a.jpg\"},{\"id\":1,\"file_name\":\"b.jpg\"}],\"annotations\":[]," + Categories + "}",
        "images[1].id", "used twice")]
    [TestCase("{\"images\":[{\"id\":1}],\"annotations\":[]," + Categories + "}", "images[0].file_name", "missing")]
    [TestCase("{\"images\":[{\"id\":1,\"file_name\":\"../../etc/passwd\"}],\"annotations\":[]," + Categories + "}", "images[0].file_name", "not a file name")]
    [TestCase("{\"images\":[{\"id\":\"x\",\"file_name\":\"a.jpg\"}],\"annotations\":[]," + Categories + "}", "images[0].id", "expected an integer")]
    [TestCase("{\"images\":[],\"annotations\":[]}", "categories", "missing")]
    [TestCase("{\"images\":[],\"annotations\":[],\"categories\":[{\"id\":1,\"name\":\"A\"},{\"id\":2,\"name\":\"a\"}]}", "categories", "used twice")]
    public void BadCocoInstancesNameTheField(string json, string field, string problem)
    {
        var path = Json("instances.json", json);
        var e = Assert.Throws<DataSetException>(() => CocoDataSet.Load(path))!;
        Assert.That(e.File, Is.EqualTo(path));
        Assert.That(e.Field, Is.EqualTo(field));
        Assert.That(e.Message, Does.Contain(problem));
    }

    [TestCase("{\"images\":[", "malformed JSON")]
    [TestCase("{\"images\":[{\"id\":1,}]}", "malformed JSON")]
    [TestCase("", "malformed JSON")]
    public void MalformedCocoJsonIsAnError(string json, string problem)
    {
        var path = Json("instances.json", json);
        var e = Assert.Throws<DataSetException>(() => CocoDataSet.Load(path))!;
        Assert.That(e.Message, Does.StartWith(path).And.Contain(problem));
    }

    /// <summary>Found by the fuzz harness (target coco-instances, coco-results): a string that is not UTF-8 was an
    /// InvalidOperationException from the JSON reader, now an error naming the field.</summary>
    [Test]
    public void InvalidUtf8InAJsonStringNamesTheField()
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes("{\"images\":[{\"id\":1,\"file_name\":\"a#.jpg\"}],\"annotations\":[]," + Categories + "}");
        bytes[Array.IndexOf(bytes, (byte)'#')] = 0xFF;
        var path = Path.Combine(dir, "instances.json");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<DataSetException>(() => CocoDataSet.Load(path))!;
        Assert.That(e.Field, Is.EqualTo("images[0].file_name"));
        Assert.That(e.Message, Does.Contain("not valid UTF-8"));

        var gt = CocoDataSet.Load(Json("gt.json", "{\"images\":[{\"id\":1,\"file_name\":\"a.jpg\"}],\"annotations\":[]," + Categories + "}"));
        var results = System.Text.Encoding.UTF8.GetBytes("[{\"image_id\":\"a#\",\"category_id\":3,\"bbox\":[1,2,3,4],\"score\":0.5}]");
        results[Array.IndexOf(results, (byte)'#')] = 0xC3;
        File.WriteAllBytes(path, results);
        Assert.That(Assert.Throws<DataSetException>(() => DetectionFiles.Read(path, gt))!.Field, Is.EqualTo("[0].image_id"));
    }

    /// <summary>Found by the fuzz harness: the XML and JSON parsers quote the bad text (a newline, the rest of a
    /// 200 KB line), and so did the message. Every data-set error is one line, and a parser's quote is cut.</summary>
    [Test]
    public void ErrorMessagesAreOneLineWhateverTheFileHolds()
    {
        var root = VocFolder(("a", Xml(Obj("cat\ndog", Box))));
        var e = Assert.Throws<DataSetException>(() => VocDataSet.Load(root, "test", ["cat"]))!;
        Assert.That(e.Message, Does.Not.Contain('\n').And.Contain("unknown class 'cat\\ndog'"));

        root = VocFolder(("b", "<annotation>\n<\n1/></annotation>"));
        e = Assert.Throws<DataSetException>(() => VocDataSet.Load(root, "test"))!;
        Assert.That(e.Message, Does.Not.Contain('\n').And.Contain("malformed XML"));

        var path = Json("instances.json", "{\"images\": [nan" + string.Concat(Enumerable.Repeat(", 1.5\t", 20_000)) + "]}");
        e = Assert.Throws<DataSetException>(() => CocoDataSet.Load(path))!;
        Assert.That(e.Message, Does.Not.Contain('\n').And.Not.Contain('\t').And.Contain("malformed JSON"));
        Assert.That(e.Message.Length, Is.LessThan(400));
    }

    [Test]
    public void CocoDefaultsAndSkippedBoxes()
    {
        var path = Json("instances.json", "{\"images\":[{\"id\":5,\"file_name\":\"a.jpg\",\"width\":100,\"height\":50},{\"id\":2,\"file_name\":\"b.jpg\"}]," +
            "\"annotations\":[{\"id\":1,\"image_id\":5,\"category_id\":3,\"bbox\":[10,10,20,5]}," +
            "{\"id\":2,\"image_id\":5,\"category_id\":1,\"bbox\":[10,10,20,5],\"area\":42.5,\"iscrowd\":1}," +
            "{\"id\":3,\"image_id\":5,\"category_id\":1,\"bbox\":[90,10,20,5]}," +
            "{\"id\":4,\"image_id\":5,\"category_id\":1,\"bbox\":[9,10,-1,5]}]," + Categories + "}");
        var set = CocoDataSet.Load(path, "/images");
        Assert.That(set.Images.Select(i => i.CocoId), Is.EqualTo(new long?[] { 2, 5 }), "sorted by id");
        Assert.That(set.Classes.Select(c => c.Name), Is.EqualTo(new[] { "person", "car" }), "sorted by id");
        var objects = set.Images[1].Objects;
        Assert.That(objects, Has.Count.EqualTo(2));
        Assert.That((objects[0].Area, objects[0].IsCrowd), Is.EqualTo((100.0, false)), "area defaults to w * h");
        Assert.That((objects[1].Area, objects[1].IsCrowd), Is.EqualTo((42.5, true)));
        Assert.That(set.Images[1].FilePath, Is.EqualTo(Path.Combine("/images", "a.jpg")));
        Assert.That(set.Issues.Select(i => i.Field), Is.EqualTo(new[] { "annotations[2].bbox", "annotations[3].bbox" }));
    }

    [Test]
    public void DataSetSpecsParse()
    {
        var voc = VocFolder(("a", Xml(Obj("cat", Box))));
        var specs = DataSetSpec.Parse($"voc:{voc}:test+voc:{voc}");
        Assert.That(specs.Select(s => (s.Format, s.Path, s.Part)), Is.EqualTo(new[] { ("voc", voc, (string?)"test"), ("voc", voc, null) }));
        var coco = Json("in:stances+1.json", "{}");
        var c = DataSetSpec.Parse($"coco:{coco}:/data/val2017").Single();
        Assert.That((c.Format, c.Path, c.Part), Is.EqualTo(("coco", coco, (string?)"/data/val2017")), "':' and '+' inside an existing path");
        Assert.Throws<ArgumentException>(() => DataSetSpec.Parse("yolo:/data"));
        Assert.Throws<ArgumentException>(() => DataSetSpec.Parse("voc:"));
    }

    [Test]
    public void ClassesMapByNameIgnoringCase()
    {
        var set = new DetectionDataSet("t", [new("person", 1), new("Car", 3)], []);
        var map = ClassMapping.ByName(["background", "CAR", "N/A", "person ", "dog"], 0, set);
        Assert.That(Enumerable.Range(0, 5).Select(i => map[i]), Is.EqualTo(new[] { -1, 1, -1, 0, -1 }));
        Assert.That(map.UnusedModelClasses, Is.EqualTo(new[] { "N/A", "dog" }));
    }

    [Test]
    public void ClassesMissingFromTheModelAreListed()
    {
        var set = new DetectionDataSet("t", [new("person", 1), new("tv", 2), new("couch", 3)], []);
        var e = Assert.Throws<ClassMappingException>(() => ClassMapping.ByName(["__background__", "person", "tvmonitor", "sofa"], 0, set))!;
        Assert.That(e.MissingInModel, Is.EqualTo(new[] { "tv", "couch" }));
        Assert.That(e.UnusedModelClasses, Is.EqualTo(new[] { "tvmonitor", "sofa" }));
        Assert.That(e.Message, Does.Contain("'tv', 'couch'").And.Contain("'tvmonitor', 'sofa'"));
    }
}
