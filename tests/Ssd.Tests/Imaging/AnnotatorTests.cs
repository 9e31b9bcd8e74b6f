using Ssd.Engine.Detection;
using Ssd.Engine.Imaging;
using Ssd.Imaging;

namespace Ssd.Tests.Imaging;

public class AnnotatorTests
{
    private static readonly (byte, byte, byte) Black = (0, 0, 0);

    [Test]
    public void BoxBorderTakesTheClassColourInsideTheBoxAndNothingElseChanges()
    {
        var image = new RgbImage(80, 60);
        var drawn = Annotator.Draw(image, [new Annotation(10, 20, 50, 45, 3, "")], new AnnotationStyle { LineWidth = 2 });
        var colour = Annotator.ClassColour(3);
        foreach (var (x, y) in new[] { (10, 20), (11, 21), (49, 44), (48, 43), (30, 20), (30, 21), (10, 30), (49, 30), (30, 44) })
            Assert.That(drawn[x, y], Is.EqualTo(colour), $"border pixel ({x},{y})");
        foreach (var (x, y) in new[] { (12, 22), (30, 32), (47, 42), (9, 20), (50, 44), (30, 19), (30, 45) })
            Assert.That(drawn[x, y], Is.EqualTo(Black), $"pixel ({x},{y}) off the border");
        Assert.That(image.Pixels, Is.All.EqualTo(0), "the input image is not modified");
        Assert.That(Annotator.ClassColour(1), Is.Not.EqualTo(Annotator.ClassColour(2)));
        Assert.DoesNotThrow(() => Annotator.ClassColour(-1), "any class id has a colour");
    }

    [Test]
    public void LabelTagSitsAboveTheBoxInTheClassColourWithReadableText()
    {
        var image = new RgbImage(200, 150);
        var a = new Annotation(40, 80, 160, 140, 2, "dog 0.87");
        var drawn = Annotator.Draw(image, [a]);
        using var font = new SkiaSharp.SKFont(Annotator.Typeface, Annotator.TextSizeFor(200, 150));
        var tag = Annotator.TagRect(font, a.Label, a.XMin, a.YMin, 200, 150);
        Assert.That(tag.Bottom, Is.LessThanOrEqualTo(80).And.GreaterThan(60), "above the box");
        var colour = Annotator.ClassColour(2);                // yellow: black text
        Assert.That(Annotator.TextColourOn(colour), Is.EqualTo(Black));
        int background = 0, ink = 0;
        for (int y = (int)tag.Top; y < (int)tag.Bottom; y++)
            for (int x = (int)tag.Left; x < (int)tag.Right; x++)
            {
                var (r, g, b) = drawn[x, y];
                if (drawn[x, y] == colour) background++;
                else if (0.299 * r + 0.587 * g + 0.114 * b < 100) ink++;   // black text, antialiased
            }
        Assert.That(background, Is.GreaterThan(tag.Width * tag.Height / 2), "tag filled with the class colour");
        Assert.That(ink, Is.GreaterThan(20), "text pixels inside the tag");
        Assert.That(Annotator.Typeface.FamilyName, Is.EqualTo("DejaVu Sans"), "the shipped font, not a system one");
    }

    [Test]
    public void BoxesAtTheTopEdgeOrOutsideTheImageAreClippedAndKeepTheirLabelInside()
    {
        var image = new RgbImage(60, 40);
        var drawn = Annotator.Draw(image, [new Annotation(-20, -5, 50, 30, 0, "cat 0.90"), new Annotation(float.NaN, 0, 5, 5, 1, "nan")]);
        using var font = new SkiaSharp.SKFont(Annotator.Typeface, Annotator.TextSizeFor(60, 40));
        var tag = Annotator.TagRect(font, "cat 0.90", -20, -5, 60, 40);
        Assert.That(tag.Top, Is.EqualTo(0), "inside the box when there is no room above");
        Assert.That(tag.Left, Is.GreaterThanOrEqualTo(0));
        Assert.That(drawn[0, 20], Is.EqualTo(Annotator.ClassColour(0)).Or.EqualTo(Black), "left border clipped away or drawn");
    }

    [Test]
    public void LineWidthAndTextSizeScaleWithTheImage()
    {
        Assert.That(Annotator.LineWidthFor(300, 300), Is.EqualTo(2));
        Assert.That(Annotator.LineWidthFor(1800, 1800), Is.EqualTo(7));
        Assert.That(Annotator.TextSizeFor(300, 300), Is.EqualTo(12));
        Assert.That(Annotator.TextSizeFor(1800, 1800), Is.EqualTo(50));
        // Drawn: the border of a box on a large image is as thick as the scaled line width.
        var drawn = Annotator.Draw(new RgbImage(1800, 1200), [new Annotation(100, 300, 900, 1000, 5, "")]);
        int line = (int)Annotator.LineWidthFor(1800, 1200), thick = 0;
        while (drawn[500, 300 + thick] == Annotator.ClassColour(5)) thick++;
        Assert.That(thick, Is.EqualTo(line));
    }

    [Test]
    public void AnnotationsFromDetectionsCarryLabelAndScore()
    {
        var a = Annotation.From(new Ssd.Engine.Detection.Detection(7, "train", 0.876f, new BoxF(1, 2, 3, 4)));
        Assert.That(a, Is.EqualTo(new Annotation(1, 2, 3, 4, 7, "train 0.88")));
    }
}
