using System.Diagnostics;
using Spectre.Console;
using Spectre.Console.Rendering;
using Ssd.Data;
using Ssd.Engine.Detection;
using Ssd.Engine.Imaging;

namespace Ssd.Cli.Evaluation;

/// <summary>
/// Runs a detector over every image of a data set, batch by batch, decoding the next batch while the detector works
/// on the current one, with a progress bar (images/s, ETA) on a terminal and a progress line every few seconds
/// otherwise (none with progress: false, as inside `ssd train`'s own display). Detections come back as <see cref="DetectionRecord"/>s of the data set's classes (model classes the
/// data set lacks are dropped and counted).
/// </summary>
internal sealed class ModelRunner(SsdDetector detector, DetectionDataSet gt, ClassMapping classes, int batchSize, TextWriter log, bool progress = true)
{
    /// <summary>Detections of model classes that the data set does not have.</summary>
    public int DroppedDetections { get; private set; }

    /// <summary>Images whose decoded size differs from the size in their annotation.</summary>
    public int SizeMismatches => sizeMismatches;
    public TimeSpan Elapsed { get; private set; }

    public List<DetectionRecord> Run()
    {
        var missing = gt.Images.Where(i => !DataSetImages.Exists(i)).ToList();
        if (missing.Count > 0)
            throw new DataSetException(missing[0].FilePath, null,
                $"missing image{(missing.Count > 1 ? $" ({missing.Count} of the {gt.Images.Count} images are missing; first: {string.Join(", ", missing.Take(3).Select(m => m.FileName))})" : "")}");
        var results = new List<DetectionRecord>();
        var clock = Stopwatch.StartNew();
        if (!progress) Process(results, _ => { });
        else if (!Console.IsOutputRedirected && gt.Images.Count > 1)
        {
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new CountColumn(), new PercentageColumn(),
                    new ImagesPerSecondColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("evaluating", maxValue: gt.Images.Count);
                    Process(results, done => task.Value = done);
                });
        }
        else
        {
            long lastReport = 0;
            Process(results, done =>
            {
                if (clock.ElapsedMilliseconds - lastReport < 5000 && done < gt.Images.Count) return;
                lastReport = clock.ElapsedMilliseconds;
                double rate = done / Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
                var eta = TimeSpan.FromSeconds((gt.Images.Count - done) / Math.Max(rate, 1e-9));
                log.WriteLine(FormattableString.Invariant($"evaluating: {done}/{gt.Images.Count} images, {rate:F1} images/s, ETA {eta:hh\\:mm\\:ss}"));
            });
        }
        Elapsed = clock.Elapsed;
        return results;
    }

    private void Process(List<DetectionRecord> results, Action<int> progress)
    {
        int n = gt.Images.Count;
        Task<RgbImage[]> Decode(int start) => Task.Run(() =>
            Enumerable.Range(start, Math.Min(batchSize, n - start)).Select(i => DecodeOne(gt.Images[i])).ToArray());
        var next = n > 0 ? Decode(0) : null;
        for (int start = 0; start < n; start += batchSize)
        {
            var images = next!.GetAwaiter().GetResult();
            next = start + batchSize < n ? Decode(start + batchSize) : null;
            var detections = detector.Detect(images);
            for (int b = 0; b < images.Length; b++)
            {
                int imageIndex = start + b;
                foreach (var d in detections[b])
                {
                    int c = classes[d.ClassId];
                    if (c < 0) { DroppedDetections++; continue; }
                    results.Add(new DetectionRecord(imageIndex, c, d.Score, PixelBox.FromCorners(d.Box.X1, d.Box.Y1, d.Box.X2, d.Box.Y2)));
                }
            }
            progress(start + images.Length);
        }
    }

    private RgbImage DecodeOne(DataSetImage image)
    {
        RgbImage decoded;
        try { decoded = DataSetImages.Load(image); }
        catch (Exception e) when (e is InvalidDataException or IOException or InvalidOperationException or ArgumentException or UnauthorizedAccessException)
        {
            var why = e.Message.StartsWith(image.FilePath + ": ", StringComparison.Ordinal) ? e.Message[(image.FilePath.Length + 2)..] : e.Message;
            throw new DataSetException(image.FilePath, null, why, e);
        }
        if (image.Width is int w && image.Height is int h && (decoded.Width != w || decoded.Height != h))
            Interlocked.Increment(ref sizeMismatches);
        return decoded;
    }

    private int sizeMismatches;

    /// <summary>"done/total".</summary>
    private sealed class CountColumn : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(FormattableString.Invariant($"{task.Value:0}/{task.MaxValue:0}"));
    }

    /// <summary>Throughput in images per second (Spectre's own speed column counts bytes).</summary>
    private sealed class ImagesPerSecondColumn : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(task.Speed is double s ? FormattableString.Invariant($"{s:F1} images/s") : "- images/s");
    }
}
