using Ssd.Cli.Imaging;
using Ssd.Engine.Imaging;

namespace Ssd.Tests.Imaging;

public class AnnotatorTests
{
    [Test]
    public void RectangleBorderTakesTheClassColourAndInsideIsUntouched()
    {
        var img = new RgbImage(40, 30);
        var colour = Annotator.ClassColour(3);
        Annotator.Draw(img, [new Annotation(5, 12, 30, 25, 3, "")], thickness: 2);
        foreach (var (x, y) in new[] { (5, 12), (30, 25), (17, 12), (17, 13), (5, 20), (6, 20), (30, 18), (29, 18), (17, 25), (17, 24) })
            Assert.That(img[x, y], Is.EqualTo(colour), $"border pixel ({x},{y})");
        foreach (var (x, y) in new[] { (7, 14), (17, 18), (28, 23), (4, 12), (31, 25), (17, 26), (17, 11) })
            Assert.That(img[x, y], Is.EqualTo(((byte)0, (byte)0, (byte)0)), $"pixel ({x},{y}) off the border");
        Assert.That(Annotator.ClassColour(1), Is.Not.EqualTo(Annotator.ClassColour(2)));
    }

    [Test]
    public void BoxesOutsideTheImageAreClipped()
    {
        var img = new RgbImage(10, 10);
        Assert.DoesNotThrow(() => Annotator.Draw(img, [new Annotation(-20, -5, 50, 8, 0, "CAT 0.9")]));
        Assert.That(img[0, 8], Is.EqualTo(Annotator.ClassColour(0)));
    }

    [Test]
    public void TextDrawsTheGlyphPixels()
    {
        var img = new RgbImage(20, 10);
        var white = ((byte)255, (byte)255, (byte)255);
        Annotator.DrawText(img, 1, 1, "1", white);
        // Glyph '1' rows: ..X.. / .XX.. / ..X.. x4 / .XXX.
        Assert.That(img[3, 1], Is.EqualTo(white));
        Assert.That(img[2, 2], Is.EqualTo(white));
        Assert.That(img[1, 1], Is.EqualTo(((byte)0, (byte)0, (byte)0)));
        Assert.That(img[2, 7], Is.EqualTo(white));
        Assert.That(img[4, 7], Is.EqualTo(white));
        int lit = 0;
        for (int y = 0; y < 10; y++) for (int x = 0; x < 20; x++) if (img[x, y] == white) lit++;
        Assert.That(lit, Is.EqualTo(1 + 2 + 1 + 1 + 1 + 1 + 3));
    }

    [Test]
    public void LabelSitsAboveTheBoxWithContrastingText()
    {
        var img = new RgbImage(80, 60);
        Annotator.Draw(img, [new Annotation(10, 30, 60, 55, 2, "DOG 87%")]);
        var colour = Annotator.ClassColour(2);   // yellow: black text
        Assert.That(img[10, 30 - 11], Is.EqualTo(colour), "tag background above the box");
        int text = 0;
        for (int y = 19; y < 30; y++) for (int x = 10; x < 60; x++) if (img[x, y] == ((byte)0, (byte)0, (byte)0)) text++;
        Assert.That(text, Is.GreaterThan(20), "text pixels inside the tag");
    }
}
