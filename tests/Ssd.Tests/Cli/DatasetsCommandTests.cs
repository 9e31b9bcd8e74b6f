using Ssd.Data;
using Ssd.Data.Coco;
using Ssd.Data.Shapes;
using Ssd.Imaging;

namespace Ssd.Tests.Cli;

/// <summary>`ssd datasets shapes` (COCO files on disk, atomically, clear usage errors) and the in-memory spec
/// shapes:SEED:COUNT where `ssd train --data/--val-data` and `ssd eval --ground-truth` take a data set.</summary>
public class DatasetsCommandTests
{
    private static string NewDir() => Path.Combine(Path.GetTempPath(), "ssd-shapes-" + Guid.NewGuid().ToString("N"));

    [Test]
    public void DatasetsShapesWritesACocoSetThatReadsBackAsTheGeneratedOne()
    {
        var dir = NewDir();
        try
        {
            var r = CliRunner.Run("datasets", "shapes", "--seed", "9", "--count", "6", "--out", dir);
            Assert.That(r.Code, Is.EqualTo(0), r.ToString());
            var set = CocoDataSet.Load(Path.Combine(dir, "instances.json"), Path.Combine(dir, "images"));
            var memory = DataSetSpec.LoadAll("shapes:9:6");
            Assert.That(set.Images, Has.Count.EqualTo(6));
            Assert.That(set.Classes.Select(c => (c.Name, c.Id)), Is.EqualTo(memory.Classes.Select(c => (c.Name, c.Id))));
            for (int i = 0; i < 6; i++)
            {
                Assert.That(set.Images[i].Objects.Select(o => o.ClassIndex), Is.EqualTo(memory.Images[i].Objects.Select(o => o.ClassIndex)));
                var boxes = set.Images[i].Objects.Zip(memory.Images[i].Objects, (a, b) => Math.Abs(a.Box.X1 - b.Box.X1) + Math.Abs(a.Box.Y2 - b.Box.Y2));
                Assert.That(boxes, Has.All.LessThan(1e-6));
                var decoded = ImageDecoder.Load(set.Images[i].FilePath);
                Assert.That((decoded.Width, decoded.Height), Is.EqualTo((300, 300)));
                // JPEG at quality 90 of noisy pixels: close to the image generated, far from another one.
                double Error(byte[] rgb) => rgb.Zip(decoded.Pixels, (a, b) => Math.Abs(a - b)).Average();
                double own = Error(ShapesDataSet.Make(9, i).Rgb), other = Error(ShapesDataSet.Make(9, i + 1).Rgb);
                Assert.That(own, Is.LessThan(12).And.LessThan(other / 3), $"image {i}: mean absolute error against its image {own}, another {other}");
            }
            Assert.That(Directory.GetFileSystemEntries(Path.GetDirectoryName(dir)!, "." + Path.GetFileName(dir) + "*"), Is.Empty, "no temporary folder left");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Test]
    public void DatasetsShapesRefusesBadArgumentsAndWritesNothing()
    {
        var dir = NewDir();
        var file = Path.GetTempFileName();
        try
        {
            foreach (var args in new[]
            {
                new[] { "datasets", "shapes", "--seed", "1", "--out", dir },                          // no --count
                ["datasets", "shapes", "--count", "0", "--out", dir],
                ["datasets", "shapes", "--count", "x", "--out", dir],
                ["datasets", "shapes", "--count", "3", "--seed", "-2", "--out", dir],
                ["datasets", "shapes", "--count", "3"],                                              // no --out
                ["datasets", "shapes", "--count", "3", "--quality", "101", "--out", dir],
                ["datasets", "shapes", "--count", "3", "--out", file],                               // a file
            })
            {
                var r = CliRunner.Run(args);
                Assert.That(r.Code, Is.EqualTo(2), string.Join(" ", args) + "\n" + r);
                r.AssertCleanErrors();
                Assert.That(Directory.Exists(dir), Is.False);
            }
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "keep.txt"), "mine");
            var full = CliRunner.Run("datasets", "shapes", "--count", "3", "--out", dir);
            Assert.That(full.Code, Is.EqualTo(2), full.ToString());
            Assert.That(full.Err, Does.Contain("not empty"));
            Assert.That(Directory.GetFileSystemEntries(dir), Has.Length.EqualTo(1), "a folder in use is left alone");
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
            File.Delete(file);
        }
    }

    [Test]
    public void EvalAndTrainTakeTheShapesSpecInMemory()
    {
        var run = NewDir();
        try
        {
            var r = CliRunner.Run("train", "--arch", "ssd300-vgg16", "--width-divisor", "16", "--data", "shapes:1:4", "--val-data", "shapes:1000:2",
                "--val-metric", "voc2010", "--out", run, "--batch", "2", "--steps", "2", "--backend", "cpu");
            Assert.That(r.Code, Is.EqualTo(0), r.ToString());
            Assert.That(File.ReadAllLines(Path.Combine(run, "log.jsonl")), Has.Length.EqualTo(2));
            Assert.That(File.ReadAllText(Path.Combine(run, "metrics.jsonl")), Does.Contain("voc2010"));
            var e = CliRunner.Run("eval", "--model", Path.Combine(run, "model.safetensors"), "--ground-truth", "shapes:1000:3", "--metric", "voc2010", "--backend", "cpu");
            Assert.That(e.Code, Is.EqualTo(0), e.ToString());
            Assert.That(e.Out, Does.Contain("shapes:1000:3: 3 images"));
            var bad = CliRunner.Run("eval", "--model", Path.Combine(run, "model.safetensors"), "--ground-truth", "shapes:1000:zero", "--backend", "cpu");
            Assert.That(bad.Code, Is.EqualTo(2), bad.ToString());
            bad.AssertCleanErrors();
        }
        finally { if (Directory.Exists(run)) Directory.Delete(run, true); }
    }
}
