using System.Globalization;
using SkiaSharp;
using Ssd.Data;
using Ssd.Data.Metrics;

namespace Ssd.Cli.Evaluation;

/// <summary>
/// Precision-recall curves as PNG (SkiaSharp): one file per class (its curves: VOC's raw precision and the
/// interpolated envelope the AP integrates; COCO's IoU 0.50, 0.75 and the mean over 0.50:0.95, read at the 101
/// recall points) and an overview with every class's main curve and its AP in the legend.
/// </summary>
internal static class PrPlot
{
    private const int Width = 900, Height = 640;
    private const float Left = 80, Right = 250, Top = 56, Bottom = 64;

    private static readonly SKColor[] Palette =
    [
        new(0x1f, 0x77, 0xb4), new(0xff, 0x7f, 0x0e), new(0x2c, 0xa0, 0x2c), new(0xd6, 0x27, 0x28), new(0x94, 0x67, 0xbd),
        new(0x8c, 0x56, 0x4b), new(0xe3, 0x77, 0xc2), new(0x7f, 0x7f, 0x7f), new(0xbc, 0xbd, 0x22), new(0x17, 0xbe, 0xcf),
    ];

    /// <summary>Writes pr_overview.png and pr_&lt;class&gt;.png into <paramref name="dir"/>; returns the files written.</summary>
    public static List<string> WriteAll(MetricResult result, string title, string dir)
    {
        Directory.CreateDirectory(dir);
        using var typeface = Typeface();
        var written = new List<string>();
        string metric = MetricNames.Name(result.Metric);
        var overview = result.PerClass.Where(c => c.Curves.Count > 0)
            .Select((c, i) => (Label: FormattableString.Invariant($"{c.Name} {c.AP:0.000}"), Series: c.Curves[0], Color: Palette[i % Palette.Length], Thick: false))
            .ToList();
        string headline = result.Metric == MetricKind.Coco
            ? FormattableString.Invariant($"AP {result["AP"]:0.000}  AP50 {result["AP50"]:0.000}")
            : FormattableString.Invariant($"mAP {result["mAP"]:0.000}");
        written.Add(Save(Path.Combine(dir, "pr_overview.png"), $"{title}: {headline} ({metric}, {(result.Metric == MetricKind.Coco ? "IoU 0.50" : "per class")})", overview, typeface));

        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var c in result.PerClass)
        {
            var lines = new List<(string, PrSeries, SKColor, bool)>();
            if (c.Curves.Count > 0)
            {
                for (int i = 0; i < c.Curves.Count; i++) lines.Add((c.Curves[i].Label, c.Curves[i], Palette[i % Palette.Length], false));
                if (result.Metric != MetricKind.Coco)
                    lines.Add(("interpolated (AP = area)", Envelope(c.Curves[0]), Palette[3], true));
            }
            var file = FileName(c.Name, names);
            string subtitle = double.IsNaN(c.AP) ? "no ground truth" : FormattableString.Invariant($"AP {c.AP:0.000}");
            written.Add(Save(Path.Combine(dir, file), $"{c.Name}: {subtitle} ({metric}, {c.GroundTruth} objects, {c.Detections} detections)", lines, typeface));
        }
        return written;
    }

    /// <summary>The precision envelope (max precision at this recall or higher), the curve VOC's AP integrates.</summary>
    private static PrSeries Envelope(PrSeries s)
    {
        var p = (double[])s.Precision.Clone();
        for (int i = p.Length - 2; i >= 0; i--) p[i] = Math.Max(p[i], p[i + 1]);
        return s with { Label = "envelope", Precision = p };
    }

    private static string FileName(string name, HashSet<string> used)
    {
        var chars = name.Trim().Select(ch => char.IsAsciiLetterOrDigit(ch) || ch is '-' or '_' ? ch : '_').ToArray();
        var stem = "pr_" + (chars.Length > 0 ? new string(chars) : "class");
        var file = stem + ".png";
        for (int i = 2; !used.Add(file) || file.Equals("pr_overview.png", StringComparison.OrdinalIgnoreCase); i++) file = $"{stem}_{i}.png";
        return file;
    }

    /// <summary>A sans-serif typeface: DejaVu Sans or Liberation Sans when the system has it, else Skia's default
    /// (with SkiaSharp's dependency-free Linux build that may have no glyphs: the plot is still drawn, without text).</summary>
    internal static SKTypeface Typeface()
    {
        foreach (var family in (string[])["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"])
        {
            var t = SKFontManager.Default.MatchFamily(family);
            if (t is not null) return t;
        }
        foreach (var file in (string[])["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf",
                     "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf", "/System/Library/Fonts/Helvetica.ttc", @"C:\Windows\Fonts\arial.ttf"])
            if (File.Exists(file) && SKTypeface.FromFile(file) is { } t) return t;
        return SKTypeface.Default;
    }

    private static string Save(string path, string title, List<(string Label, PrSeries Series, SKColor Color, bool Thick)> lines, SKTypeface typeface)
    {
        var info = new SKImageInfo(Width, Height, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var surface = SKSurface.Create(info);
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var font = new SKFont(typeface, 14);
        using var small = new SKFont(typeface, 12);
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var grid = new SKPaint { Color = new SKColor(0xdd, 0xdd, 0xdd), StrokeWidth = 1, IsStroke = true };
        using var axis = new SKPaint { Color = SKColors.Black, StrokeWidth = 1.5f, IsStroke = true, IsAntialias = true };
        float plotW = Width - Left - Right, plotH = Height - Top - Bottom;
        float X(double r) => Left + (float)Math.Clamp(r, 0, 1) * plotW;
        float Y(double p) => Top + (1 - (float)Math.Clamp(p, 0, 1)) * plotH;

        for (int i = 0; i <= 10; i++)
        {
            double v = i / 10.0;
            canvas.DrawLine(X(v), Y(0), X(v), Y(1), grid);
            canvas.DrawLine(X(0), Y(v), X(1), Y(v), grid);
            var label = v.ToString("0.0", CultureInfo.InvariantCulture);
            canvas.DrawText(label, X(v), Y(0) + 18, SKTextAlign.Center, small, ink);
            canvas.DrawText(label, X(0) - 8, Y(v) + 4, SKTextAlign.Right, small, ink);
        }
        canvas.DrawRect(Left, Top, plotW, plotH, axis);
        canvas.DrawText("recall", X(0.5), Height - 22, SKTextAlign.Center, font, ink);
        canvas.Save();
        canvas.RotateDegrees(-90, 24, Y(0.5));
        canvas.DrawText("precision", 24, Y(0.5), SKTextAlign.Center, font, ink);
        canvas.Restore();
        canvas.DrawText(title, Left, 32, SKTextAlign.Left, font, ink);

        float legendY = Top + 8;
        foreach (var (label, series, color, thick) in lines)
        {
            using var pen = new SKPaint { Color = color, StrokeWidth = thick ? 2.5f : 1.8f, IsStroke = true, IsAntialias = true };
            using var curve = new SKPath();
            // A step curve: precision holds until the recall of the next point.
            bool first = true;
            double lastP = 0;
            for (int i = 0; i < series.Recall.Length; i++)
            {
                double r = series.Recall[i], p = series.Precision[i];
                if (first) { curve.MoveTo(X(r), Y(p)); first = false; }
                else { curve.LineTo(X(r), Y(lastP)); curve.LineTo(X(r), Y(p)); }
                lastP = p;
            }
            canvas.DrawPath(curve, pen);
            canvas.DrawLine(Width - Right + 16, legendY, Width - Right + 40, legendY, pen);
            canvas.DrawText(label, Width - Right + 46, legendY + 4, SKTextAlign.Left, small, ink);
            legendY += 20;
        }
        if (lines.Count == 0) canvas.DrawText("no ground truth: no curve", X(0.5), Y(0.5), SKTextAlign.Center, font, ink);

        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        Ssd.Weights.IO.AtomicFile.WriteAllBytes(path, data.ToArray());
        return path;
    }
}
