using Ssd.Data;
using Ssd.Data.Shapes;

namespace Ssd.Tests.Data;

/// <summary>
/// The synthetic shapes set of the bundled example (the C# port of tools/example/shapes_dataset.py): a pure function of
/// (seed, index); boxes that are the tight boxes of each shape's own pixels (the shape drawn alone); sizes, counts and
/// class frequencies within the distribution's bounds; the in-memory data set shapes:SEED:COUNT.
/// </summary>
public class ShapesDataSetTests
{
    [Test]
    public void TheSameSeedAndIndexGiveTheSameBytesAndBoxes()
    {
        for (int i = 0; i < 3; i++)
        {
            var a = ShapesDataSet.Make(5, i);
            var b = ShapesDataSet.Make(5, i);
            Assert.That(b.Rgb, Is.EqualTo(a.Rgb));
            Assert.That(b.Objects, Is.EqualTo(a.Objects));
        }
    }

    [Test]
    public void DifferentSeedsAndIndicesGiveDifferentImages()
    {
        var a = ShapesDataSet.Make(1, 0);
        Assert.That(ShapesDataSet.Make(2, 0).Rgb, Is.Not.EqualTo(a.Rgb));
        Assert.That(ShapesDataSet.Make(1, 1).Rgb, Is.Not.EqualTo(a.Rgb));
        Assert.That(ShapesDataSet.Make(1000, 0).Objects, Is.Not.EqualTo(a.Objects));
    }

    /// <summary>The pixels of shape k drawn alone (white on black, the same draws) span its box to within one pixel.</summary>
    [Test]
    public void EachBoxIsTheTightBoxOfItsShapesOwnPixels()
    {
        int checkedShapes = 0;
        for (int i = 0; i < 12; i++)
        {
            var image = ShapesDataSet.Make(3, i);
            for (int k = 0; k < image.Objects.Count; k++)
            {
                var alone = ShapesDataSet.Make(3, i, only: k);
                Assert.That(alone.Objects, Is.EqualTo(image.Objects), "drawing one shape alone makes the same draws");
                int x1 = int.MaxValue, y1 = int.MaxValue, x2 = -1, y2 = -1, size = alone.Size;
                for (int y = 0; y < size; y++)
                    for (int x = 0; x < size; x++)
                        if (alone.Rgb[3 * (y * size + x)] > 0)
                            (x1, y1, x2, y2) = (Math.Min(x1, x), Math.Min(y1, y), Math.Max(x2, x + 1), Math.Max(y2, y + 1));
                var box = image.Objects[k].Box;
                string what = $"seed 3 image {i} shape {k} ({ShapesDataSet.ClassNames[image.Objects[k].ClassIndex]}): box {box}, pixels {x1},{y1}..{x2},{y2}";
                Assert.That(x2, Is.GreaterThan(x1), what);
                Assert.That(new[] { box.X1 - x1, box.Y1 - y1, box.X2 - x2, box.Y2 - y2 }.Select(Math.Abs), Has.All.LessThanOrEqualTo(1.0), what);
                checkedShapes++;
            }
        }
        Assert.That(checkedShapes, Is.GreaterThan(12));
    }

    [Test]
    public void SizesCountsAndOverlapStayWithinTheDistributionsBounds()
    {
        var counts = new int[5];
        for (int i = 0; i < 200; i++)
        {
            var image = ShapesDataSet.Make(11, i);
            Assert.That(image.Size, Is.EqualTo(ShapesDataSet.ImageSize));
            Assert.That(image.Rgb, Has.Length.EqualTo(3 * 300 * 300));
            Assert.That(image.Objects.Count, Is.InRange(1, 4));
            counts[image.Objects.Count]++;
            foreach (var o in image.Objects)
            {
                Assert.That(new[] { o.Box.X1, o.Box.Y1, o.Box.X2, o.Box.Y2 }, Has.All.InRange(0.0, 300.0));
                double longer = Math.Max(o.Box.Width, o.Box.Height);
                Assert.That(longer, Is.InRange(ShapesDataSet.MinObject - 1.0, ShapesDataSet.MaxObject + 0.001), $"image {i}: {o}");
                Assert.That(Math.Min(o.Box.Width, o.Box.Height), Is.GreaterThan(8), $"image {i}: {o}");
            }
            for (int a = 0; a < image.Objects.Count; a++)
                for (int b = 0; b < a; b++)
                {
                    var (p, q) = (image.Objects[a].Box, image.Objects[b].Box);
                    double iw = Math.Max(0, Math.Min(p.X2, q.X2) - Math.Max(p.X1, q.X1)), ih = Math.Max(0, Math.Min(p.Y2, q.Y2) - Math.Max(p.Y1, q.Y1));
                    Assert.That(iw * ih / Math.Min(p.Width * p.Height, q.Width * q.Height), Is.LessThanOrEqualTo(0.3 + 1e-9), $"image {i}: shapes {b} and {a} overlap");
                }
        }
        Assert.That(counts.Skip(1), Has.All.GreaterThan(20), "every count of 1-4 shapes occurs: " + string.Join(",", counts));
    }

    [Test]
    public void ClassFrequenciesAreRoughlyEqualOverManyImages()
    {
        var perClass = new int[4];
        for (int i = 0; i < 400; i++)
            foreach (var o in ShapesDataSet.Make(21, i).Objects) perClass[o.ClassIndex]++;
        double mean = perClass.Average();
        Assert.That(perClass.Select(c => c / mean), Has.All.InRange(0.85, 1.15), string.Join(",", perClass));
    }

    [Test]
    public void TheBackgroundHasGradientNoiseAndClutterButNoObjectSizedBlob()
    {
        // The mean colour of the left and right thirds differ (a gradient), and neighbouring pixels differ (noise).
        var image = ShapesDataSet.Make(4, 0);
        int differing = 0;
        for (int x = 1; x < 300; x++)
            if (image.Rgb[3 * (150 * 300 + x)] != image.Rgb[3 * (150 * 300 + x - 1)]) differing++;
        Assert.That(differing, Is.GreaterThan(100));
    }

    [Test]
    public void TheShapesSpecIsADataSetInMemory()
    {
        var set = DataSetSpec.LoadAll("shapes:7:5");
        Assert.That(set.Images, Has.Count.EqualTo(5));
        Assert.That(set.Classes.Select(c => c.Name), Is.EqualTo(ShapesDataSet.ClassNames));
        Assert.That(set.Classes.Select(c => c.Id), Is.EqualTo(new long[] { 1, 2, 3, 4 }));
        for (int i = 0; i < 5; i++)
        {
            var made = ShapesDataSet.Make(7, i);
            var image = set.Images[i];
            Assert.That(image.Render, Is.Not.Null);
            Assert.That(image.Render!(), Is.EqualTo(made.Rgb));
            Assert.That(image.Objects.Select(o => (o.ClassIndex, o.Box)), Is.EqualTo(made.Objects.Select(o => (o.ClassIndex, o.Box))));
            Assert.That((image.Width, image.Height, image.PixelOrigin, image.CocoId), Is.EqualTo((300, 300, 0.0, (long?)(i + 1))));
        }
        Assert.That(set.Images.SelectMany(i => i.Objects).Select(o => o.Id).Distinct().Count(), Is.EqualTo(set.ObjectCount), "annotation ids are unique");
        Assert.That(DataSetSpec.LoadAll("shapes:7:2+shapes:8:3").Images, Has.Count.EqualTo(5));
    }

    [TestCase("shapes:1")]
    [TestCase("shapes:x:4")]
    [TestCase("shapes:1:0")]
    [TestCase("shapes:-1:4")]
    [TestCase("shapes:1:4:5")]
    [TestCase("shapes:1:99999999999")]
    public void ABadShapesSpecIsAClearError(string spec)
    {
        var e = Assert.Throws<ArgumentException>(() => DataSetSpec.Parse(spec));
        Assert.That(e!.Message, Does.Contain(spec).And.Contain("shapes"));
    }
}
