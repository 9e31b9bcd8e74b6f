using System.Globalization;
using SkiaSharp;
using Ssd.Cli.Evaluation;

namespace Ssd.Cli.Training;

/// <summary>
/// RUN_DIR/curves.png (SkiaSharp): the training loss against the optimizer step (each step's loss, its loc and conf
/// parts, and a running mean over 1/50 of the run; log scale) above the validation metric against the step
/// (0..1), when the run evaluates.
/// </summary>
public static class TrainingCurves
{
    private const int Width = 1000, PanelHeight = 330;
    private const float Left = 80, Right = 40, Top = 48, Bottom = 50;

    public sealed record LossPoint(long Step, double Loss, double Loc, double Conf);

    public sealed record MetricPoint(long Step, double Value);

    public static void Write(string path, string title, IReadOnlyList<LossPoint> losses, IReadOnlyList<MetricPoint> metric, string metricName)
    {
        bool withMetric = metric.Count > 0;
        int height = PanelHeight * (withMetric ? 2 : 1);
        using var surface = SKSurface.Create(new SKImageInfo(Width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var typeface = PrPlot.Typeface();
        using var font = new SKFont(typeface, 14);
        using var small = new SKFont(typeface, 12);
        long lastStep = Math.Max(1, Math.Max(losses.Count > 0 ? losses[^1].Step : 1, withMetric ? metric[^1].Step : 1));

        var finite = losses.Where(p => double.IsFinite(p.Loss) && p.Loss > 0).ToList();
        double lo = finite.Count > 0 ? finite.Min(p => Math.Min(p.Loss, Math.Max(Math.Min(p.Loc, p.Conf), p.Loss / 100))) : 0.1;
        double hi = finite.Count > 0 ? finite.Max(p => p.Loss) : 10;
        double logLo = Math.Floor(Math.Log10(Math.Max(lo, 1e-6))), logHi = Math.Ceiling(Math.Log10(Math.Max(hi, 1e-6)));
        if (logHi <= logLo) logHi = logLo + 1;
        int window = Math.Max(1, losses.Count / 50);
        var mean = new List<(long, double)>();
        double sum = 0;
        for (int i = 0; i < losses.Count; i++)
        {
            sum += losses[i].Loss;
            if (i >= window) sum -= losses[i - window].Loss;
            if (i >= window - 1) mean.Add((losses[i].Step, sum / window));
        }
        var panel = new Panel(canvas, 0, lastStep, font, small);
        panel.Frame($"{title}: training loss (log scale)", "step", "loss", logLo, logHi,
            v => Math.Pow(10, v).ToString("G3", CultureInfo.InvariantCulture), (int)(logHi - logLo));
        double Log(double v) => Math.Log10(Math.Max(v, 1e-6));
        panel.Series("conf", new SKColor(0xff, 0x7f, 0x0e), 1, losses.Select(p => (p.Step, Log(p.Conf))), 0);
        panel.Series("loc", new SKColor(0x2c, 0xa0, 0x2c), 1, losses.Select(p => (p.Step, Log(p.Loc))), 1);
        panel.Series("loss", new SKColor(0x9e, 0xc5, 0xe8), 1, losses.Select(p => (p.Step, Log(p.Loss))), 2);
        panel.Series($"loss, mean of {window}", new SKColor(0x1f, 0x77, 0xb4), 2.5f, mean.Select(m => (m.Item1, Log(m.Item2))), 3);
        if (withMetric)
        {
            var bottom = new Panel(canvas, PanelHeight, lastStep, font, small);
            var best = metric.MaxBy(m => double.IsNaN(m.Value) ? -1 : m.Value)!;
            bottom.Frame(string.Create(CultureInfo.InvariantCulture, $"validation {metricName}: last {metric[^1].Value:0.000}, best {best.Value:0.000} at step {best.Step}"),
                "step", metricName, 0, 1, v => v.ToString("0.0", CultureInfo.InvariantCulture), 10);
            bottom.Series(metricName, new SKColor(0xd6, 0x27, 0x28), 2.5f, metric.Select(m => (m.Step, m.Value)), 0, dots: true);
        }
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        Ssd.Weights.IO.AtomicFile.WriteAllBytes(path, data.ToArray());
    }

    /// <summary>One plot: x from step 0 to the last, y over [y0, y1].</summary>
    private sealed class Panel(SKCanvas canvas, float top, long lastStep, SKFont font, SKFont small)
    {
        private double y0, y1;
        private float PlotW => Width - Left - Right;
        private float PlotH => PanelHeight - Top - Bottom;
        private float X(double step) => Left + (float)(Math.Clamp(step / lastStep, 0, 1) * PlotW);
        private float Y(double v) => top + Top + (1 - (float)Math.Clamp((v - y0) / (y1 - y0), 0, 1)) * PlotH;

        public void Frame(string title, string xLabel, string yLabel, double from, double to, Func<double, string> yText, int yTicks)
        {
            (y0, y1) = (from, to);
            using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            using var grid = new SKPaint { Color = new SKColor(0xdd, 0xdd, 0xdd), StrokeWidth = 1, IsStroke = true };
            using var axis = new SKPaint { Color = SKColors.Black, StrokeWidth = 1.5f, IsStroke = true, IsAntialias = true };
            for (int i = 0; i <= yTicks; i++)
            {
                double v = from + (to - from) * i / yTicks;
                canvas.DrawLine(X(0), Y(v), X(lastStep), Y(v), grid);
                canvas.DrawText(yText(v), X(0) - 8, Y(v) + 4, SKTextAlign.Right, small, ink);
            }
            // Step ticks at 1, 2 or 5 x 10^k, about ten of them.
            double raw = Math.Max(1, lastStep / 10.0), unit = Math.Pow(10, Math.Floor(Math.Log10(raw)));
            double tick = raw / unit <= 1 ? unit : raw / unit <= 2 ? 2 * unit : raw / unit <= 5 ? 5 * unit : 10 * unit;
            for (double s = 0; s <= lastStep + 1e-9; s += tick)
            {
                canvas.DrawLine(X(s), Y(from), X(s), Y(to), grid);
                canvas.DrawText(s.ToString("0", CultureInfo.InvariantCulture), X(s), Y(from) + 18, SKTextAlign.Center, small, ink);
            }
            canvas.DrawRect(Left, top + Top, PlotW, PlotH, axis);
            canvas.DrawText(xLabel, X(lastStep / 2.0), top + PanelHeight - 12, SKTextAlign.Center, font, ink);
            canvas.Save();
            canvas.RotateDegrees(-90, 22, Y((from + to) / 2));
            canvas.DrawText(yLabel, 22, Y((from + to) / 2), SKTextAlign.Center, font, ink);
            canvas.Restore();
            canvas.DrawText(title, Left, top + 30, SKTextAlign.Left, font, ink);
        }

        public void Series(string label, SKColor color, float width, IEnumerable<(long Step, double Value)> points, int legendRow, bool dots = false)
        {
            using var pen = new SKPaint { Color = color, StrokeWidth = width, IsStroke = true, IsAntialias = true };
            using var fill = new SKPaint { Color = color, IsAntialias = true };
            using var path = new SKPath();
            bool first = true;
            foreach (var (step, value) in points)
            {
                if (!double.IsFinite(value)) { first = true; continue; }
                if (first) path.MoveTo(X(step), Y(value)); else path.LineTo(X(step), Y(value));
                first = false;
                if (dots) canvas.DrawCircle(X(step), Y(value), 3.5f, fill);
            }
            canvas.DrawPath(path, pen);
            using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            float lx = Width - Right - 200, ly = top + Top + 16 + 18 * legendRow;
            canvas.DrawLine(lx, ly, lx + 24, ly, pen);
            canvas.DrawText(label, lx + 30, ly + 4, SKTextAlign.Left, small, ink);
        }
    }
}
