using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Ssd.Engine.Detection;
using Ssd.Engine.Imaging;
using Ssd.Cli.Imaging;

namespace Ssd.Cli.Commands;

/// <summary>
/// `ssd detect --model M IMAGE|DIR... [--json out.json] [--format json|coco] [--annotate OUTDIR] [--threshold T] [--batch N]
/// [--backend B] [--input-size WxH|native]`:
/// runs the detector on files and folders (their images, sorted by name). A file that cannot be read or decoded
/// gets an error line and the rest go on; the exit code is 1 if any failed.
/// </summary>
public static class DetectCommand
{
    private static readonly string[] ImageExtensions = [".jpg", ".jpeg", ".png", ".bmp", ".tga", ".gif", ".psd", ".hdr"];

    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "a model file written by `ssd convert`", Required = true };
        var inputs = new Argument<string[]>("inputs") { Description = "image files or folders", Arity = ArgumentArity.OneOrMore };
        var json = new Option<string?>("--json") { Description = "write the detections as JSON to this file" };
        var format = new Option<string>("--format") { Description = "what --json writes: json (Ssd's per-image list) or coco (COCO results format)", DefaultValueFactory = _ => "json" };
        var annotate = new Option<string?>("--annotate") { Description = "write annotated copies of the images into this folder" };
        var threshold = new Option<float?>("--threshold") { Description = "confidence threshold (default: the model's)" };
        var batch = new Option<int>("--batch") { Description = "images per forward pass", DefaultValueFactory = _ => 8 };
        var backend = new Option<string>("--backend") { Description = "auto, cuda, opencl, cpu-sim or cpu", DefaultValueFactory = _ => "auto" };
        var inputSize = new Option<string?>("--input-size") { Description = "network input WxH, or native (each image's own size); Caffe models only; default: the model's" };
        var command = new Command("detect", "Detect objects in images.") { model, inputs, json, format, annotate, threshold, batch, backend, inputSize };
        command.SetAction(parse =>
        {
            try
            {
                var options = new SsdDetectorOptions
                {
                    Backend = DetectorBackendNames.Parse(parse.GetValue(backend)!),
                    ConfidenceThreshold = parse.GetValue(threshold),
                    MaxBatch = parse.GetValue(batch),
                    InputSize = parse.GetValue(inputSize) is { } size ? InputSize.Parse(size) : null,
                };
                bool coco = parse.GetValue(format)!.Trim().ToLowerInvariant() switch
                {
                    "json" => false,
                    "coco" => true,
                    var f => throw new ArgumentException($"unknown --format '{f}': json or coco"),
                };
                var files = Expand(parse.GetValue(inputs)!);
                using var detector = SsdDetector.Load(parse.GetValue(model)!, options);
                return Run(detector, files, parse.GetValue(json), coco, parse.GetValue(annotate), options.MaxBatch);
            }
            catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException or NotSupportedException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    /// <summary>Files as given; folders become their image files, sorted by name. A missing path is an error.</summary>
    public static List<string> Expand(IEnumerable<string> inputs)
    {
        var files = new List<string>();
        foreach (var input in inputs)
        {
            if (Directory.Exists(input))
                files.AddRange(Directory.EnumerateFiles(input)
                    .Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                    .OrderBy(f => f, StringComparer.Ordinal));
            else if (File.Exists(input)) files.Add(input);
            else throw new FileNotFoundException($"{input}: no such file or folder");
        }
        return files;
    }

    private static int Run(SsdDetector detector, List<string> files, string? jsonPath, bool coco, string? annotateDir, int batchSize)
    {
        var results = new List<FileResult>();
        int failed = 0;
        void ProcessAll(Action? tick)
        {
            for (int start = 0; start < files.Count; start += batchSize)
            {
                var chunk = files.Skip(start).Take(batchSize).ToList();
                var decoded = new List<(string Path, RgbImage Image)>();
                foreach (var path in chunk)
                {
                    try { decoded.Add((path, DecodeImage(path))); }
                    catch (Exception e) when (e is IOException or InvalidDataException or InvalidOperationException or ArgumentException or UnauthorizedAccessException)
                    {
                        Console.Error.WriteLine($"error: {path}: {e.Message}");
                        failed++;
                        tick?.Invoke();
                    }
                }
                if (decoded.Count == 0) continue;
                var detections = detector.Detect(decoded.Select(d => d.Image).ToList());
                for (int i = 0; i < decoded.Count; i++)
                {
                    var (path, image) = decoded[i];
                    results.Add(FileResult.From(path, image, detections[i]));
                    if (annotateDir is not null) Annotate(image, detections[i], Path.Combine(annotateDir, Path.GetFileNameWithoutExtension(path) + ".png"));
                    tick?.Invoke();
                }
            }
        }

        if (annotateDir is not null) Directory.CreateDirectory(annotateDir);
        // A progress bar for several images on a terminal; the per-image listing (without --json) follows it.
        if (files.Count > 1 && !Console.IsOutputRedirected)
            AnsiConsole.Progress().Start(ctx =>
            {
                var task = ctx.AddTask("detecting", maxValue: files.Count);
                ProcessAll(() => task.Increment(1));
            });
        else ProcessAll(null);

        if (jsonPath is null)
            foreach (var r in results) Print(r.Path, r.Detections);
        if (jsonPath is not null)
        {
            if (Path.GetDirectoryName(Path.GetFullPath(jsonPath)) is { } parent) Directory.CreateDirectory(parent);
            if (coco) Ssd.Data.Coco.CocoResults.Write(jsonPath, results.SelectMany(r => CocoRows(r.Path, r.Detections)));
            else File.WriteAllText(jsonPath, ToJson(results));
        }
        if (failed > 0) Console.Error.WriteLine($"{failed} of {files.Count} images failed");
        return failed > 0 ? 1 : 0;
    }

    private static void Print(string path, IReadOnlyList<Detection> detections)
    {
        Console.WriteLine($"{path}: {detections.Count} detections");
        foreach (var d in detections)
            Console.WriteLine(FormattableString.Invariant($"  {d.Label,-14} {d.Score:F4}  [{d.Box.X1:F1}, {d.Box.Y1:F1}, {d.Box.X2:F1}, {d.Box.Y2:F1}]"));
    }

    private static RgbImage DecodeImage(string path) => ImageDecoder.Load(path);

    /// <summary>Writes a copy of the image with each detection's box and "label score" drawn on it.</summary>
    private static void Annotate(RgbImage image, IReadOnlyList<Detection> detections, string outputPath)
    {
        var copy = new RgbImage(image.Width, image.Height, (byte[])image.Pixels.Clone());
        Annotator.Draw(copy, detections.Select(d => new Annotation(d.Box.X1, d.Box.Y1, d.Box.X2, d.Box.Y2, d.ClassId,
            FormattableString.Invariant($"{d.Label} {d.Score:F2}"))));
        ImageEncoder.Save(copy, outputPath);
    }

    private sealed record DetectionJson(int class_id, string label, float score, float[] box);
    private sealed record ImageJson(string path, int width, int height, DetectionJson[] detections);
    private sealed record FileResult(string Path, int Width, int Height, IReadOnlyList<Detection> Detections)
    {
        public static FileResult From(string path, RgbImage image, IReadOnlyList<Detection> d) => new(path, image.Width, image.Height, d);
    }

    /// <summary>{"images":[{"path","width","height","detections":[{"class_id","label","score","box":[x1,y1,x2,y2]}]}]}</summary>
    public static string ToJson(IEnumerable<(string Path, int Width, int Height, IReadOnlyList<Detection> Detections)> images) =>
        JsonSerializer.Serialize(new
        {
            images = images.Select(i => new ImageJson(i.Path, i.Width, i.Height,
                i.Detections.Select(d => new DetectionJson(d.ClassId, d.Label, d.Score, [d.Box.X1, d.Box.Y1, d.Box.X2, d.Box.Y2])).ToArray())).ToArray(),
        }, new JsonSerializerOptions { WriteIndented = true });

    /// <summary>COCO results rows: image_id from the file name (a numeric stem is the number), category_id the model's
    /// class index, bbox [x, y, w, h] in image pixels.</summary>
    private static IEnumerable<Ssd.Data.Coco.CocoResults.Row> CocoRows(string path, IReadOnlyList<Detection> detections)
    {
        var imageId = Ssd.Data.Coco.CocoResults.ImageIdFromFileName(path);
        return detections.Select(d => new Ssd.Data.Coco.CocoResults.Row(imageId, d.ClassId, d.Label,
            Ssd.Data.PixelBox.FromCorners(d.Box.X1, d.Box.Y1, d.Box.X2, d.Box.Y2), d.Score));
    }

    private static string ToJson(List<FileResult> results) => ToJson(results.Select(r => (r.Path, r.Width, r.Height, r.Detections)));
}
