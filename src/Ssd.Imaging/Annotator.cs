using System.Globalization;
using SkiaSharp;
using Ssd.Engine.Detection;
using Ssd.Engine.Imaging;

namespace Ssd.Imaging;

/// <summary>One box to draw: corners in image pixels, a class (for the colour) and its label text.</summary>
public readonly record struct Annotation(float XMin, float YMin, float XMax, float YMax, int ClassId, string Label)
{
    /// <summary>A detection's box with "label score" (score to two decimals).</summary>
    public static Annotation From(Detection d) =>
        new(d.Box.X1, d.Box.Y1, d.Box.X2, d.Box.Y2, d.ClassId, string.Create(CultureInfo.InvariantCulture, $"{d.Label} {d.Score:F2}"));
}

/// <summary>Line width and text size in pixels; null sizes scale with the image (<see cref="Annotator.LineWidthFor"/>, <see cref="Annotator.TextSizeFor"/>).</summary>
public sealed record AnnotationStyle
{
    /// <summary>Box outline width in pixels (null: <see cref="Annotator.LineWidthFor"/> of the image).</summary>
    public float? LineWidth { get; init; }

    /// <summary>Label text size in pixels (null: <see cref="Annotator.TextSizeFor"/> of the image).</summary>
    public float? TextSize { get; init; }
}

/// <summary>
/// Draws detections with SkiaSharp: each box as a rectangle in its class colour (a fixed palette of 20 distinct
/// colours), with a filled tag above it (inside the box when the box touches the top edge) holding the label in
/// DejaVu Sans (shipped in this package: Fonts/LICENSE-DejaVu.txt), in black or white, whichever reads better on the
/// colour. Line width and text size scale with the image, so labels stay readable from 300x300 to 4000x3000.
/// </summary>
public static class Annotator
{
    private static readonly (byte R, byte G, byte B)[] palette =
    [
        (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
        (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255), (170, 110, 40), (128, 0, 0),
        (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128), (128, 128, 128), (255, 255, 255),
    ];

    private static readonly Lazy<SKTypeface> typeface = new(LoadTypeface);

    /// <summary>The shipped DejaVu Sans.</summary>
    public static SKTypeface Typeface => typeface.Value;

    /// <summary>The colour boxes of class <paramref name="classId"/> are drawn in (the palette repeats every 20 classes).</summary>
    public static (byte R, byte G, byte B) ClassColour(int classId) => palette[(int)((uint)classId % (uint)palette.Length)];

    /// <summary>Default line width: 2 px up to 500 px on the short side, then 1 px more per 250 px.</summary>
    public static float LineWidthFor(int width, int height) => MathF.Max(2, MathF.Round(Math.Min(width, height) / 250f));

    /// <summary>Default text size (the font's em, in px): 12 px up to 432 px on the short side, then 1/36 of it.</summary>
    public static float TextSizeFor(int width, int height) => MathF.Max(12, MathF.Round(Math.Min(width, height) / 36f));

    /// <summary>Black or white, whichever contrasts more with the colour (ITU-R BT.601 luma).</summary>
    public static (byte R, byte G, byte B) TextColourOn((byte R, byte G, byte B) c) =>
        0.299 * c.R + 0.587 * c.G + 0.114 * c.B > 140 ? ((byte)0, (byte)0, (byte)0) : ((byte)255, (byte)255, (byte)255);

    /// <summary>A copy of the image with the annotations drawn on it.</summary>
    public static RgbImage Draw(RgbImage image, IEnumerable<Annotation> annotations, AnnotationStyle? style = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(annotations);
        float line = style?.LineWidth ?? LineWidthFor(image.Width, image.Height);
        float size = style?.TextSize ?? TextSizeFor(image.Width, image.Height);
        if (!(line >= 1) || !(size >= 4)) throw new ArgumentException($"annotation style: line width {line} must be >= 1 px, text size {size} >= 4 px");
        using var bitmap = SkiaBitmaps.ToBitmap(image);
        using (var canvas = new SKCanvas(bitmap))
        using (var font = new SKFont(Typeface, size) { Edging = SKFontEdging.Antialias, Subpixel = true })
        using (var stroke = new SKPaint { Style = SKPaintStyle.Stroke, StrokeWidth = line, IsAntialias = false, StrokeJoin = SKStrokeJoin.Miter })
        using (var fill = new SKPaint { Style = SKPaintStyle.Fill, IsAntialias = false })
        using (var text = new SKPaint { Style = SKPaintStyle.Fill, IsAntialias = true })
        {
            foreach (var a in annotations)
            {
                if (!float.IsFinite(a.XMin) || !float.IsFinite(a.YMin) || !float.IsFinite(a.XMax) || !float.IsFinite(a.YMax)) continue;
                var colour = ClassColour(a.ClassId);
                var sk = new SKColor(colour.R, colour.G, colour.B);
                float x0 = MathF.Min(a.XMin, a.XMax), x1 = MathF.Max(a.XMin, a.XMax), y0 = MathF.Min(a.YMin, a.YMax), y1 = MathF.Max(a.YMin, a.YMax);
                // The stroke is centred on its path: inset by half a line so the border lies inside the box.
                float half = line / 2;
                stroke.Color = sk;
                canvas.DrawRect(SKRect.Create(x0 + half, y0 + half, MathF.Max(0, x1 - x0 - line), MathF.Max(0, y1 - y0 - line)), stroke);
                if (string.IsNullOrEmpty(a.Label)) continue;
                DrawTag(canvas, font, fill, text, a.Label, x0, y0, sk, TextColourOn(colour), image.Width, image.Height);
            }
        }
        return SkiaBitmaps.ToImage(bitmap);
    }

    /// <summary>The label tag's rectangle for a box whose top-left corner is (x, y): above the box, else inside it.</summary>
    public static SKRect TagRect(SKFont font, string label, float x, float y, int imageWidth, int imageHeight)
    {
        var metrics = font.Metrics;
        float pad = MathF.Max(2, MathF.Round(font.Size / 6));
        float w = font.MeasureText(label) + 2 * pad, h = MathF.Ceiling(metrics.Descent - metrics.Ascent) + 2 * pad;
        float top = y - h >= 0 ? y - h : MathF.Max(0, y);
        float left = Math.Clamp(x, 0, MathF.Max(0, imageWidth - w));
        return SKRect.Create(MathF.Round(left), MathF.Round(MathF.Min(top, MathF.Max(0, imageHeight - h))), MathF.Ceiling(w), h);
    }

    private static void DrawTag(SKCanvas canvas, SKFont font, SKPaint fill, SKPaint text, string label, float x, float y,
        SKColor colour, (byte R, byte G, byte B) ink, int width, int height)
    {
        var rect = TagRect(font, label, x, y, width, height);
        fill.Color = colour;
        canvas.DrawRect(rect, fill);
        float pad = MathF.Max(2, MathF.Round(font.Size / 6));
        text.Color = new SKColor(ink.R, ink.G, ink.B);
        canvas.DrawText(label, rect.Left + pad, rect.Top + pad - font.Metrics.Ascent, SKTextAlign.Left, font, text);
    }

    private static SKTypeface LoadTypeface()
    {
        using var stream = typeof(Annotator).Assembly.GetManifestResourceStream("Ssd.Imaging.Fonts.DejaVuSans.ttf")
            ?? throw new InvalidOperationException("Ssd.Imaging: the embedded DejaVu Sans font is missing");
        return SKTypeface.FromStream(stream) ?? throw new InvalidOperationException("Ssd.Imaging: SkiaSharp cannot load the embedded DejaVu Sans font");
    }
}
