using System.CommandLine;
using System.Globalization;
using Ssd.Data;
using Ssd.Data.Coco;
using Ssd.Engine.Detection;
using Ssd.Engine.Imaging;
using Ssd.Imaging;
using Ssd.Weights.IO;

namespace Ssd.Cli.Commands;

/// <summary>
/// `ssd detect --model M INPUT... [--recursive] [--json FILE|-] [--annotate DIR] [--threshold T] [--batch N]
/// [--backend B] [--input-size WxH|native] [--max-pixels N] [--max-batch-pixels N]`: runs the detector on image files, folders and glob
/// patterns (<see cref="InputFiles"/>).
/// Outputs are checked before any work (<see cref="OutputPaths"/>) and written atomically; images are read, checked
/// against the pixel budgets (<see cref="ImageLimits"/>) and decoded batch by batch, so memory holds one batch.
/// Each image gets a line (its detections, or where its outputs went); an image that cannot be read, decoded or run
/// gets an error line naming it and the others go on. Exit code 0 when every input succeeded, 1 when some failed
/// (when all failed, an existing --json file is left as it was), 2 usage, 3 model or device (<see cref="ExitCodes"/>).
/// </summary>
public static class DetectCommand
{
    /// <summary>The default confidence threshold: what people expect a detector to show (the flavours' own 0.01 suits mAP).</summary>
    public const float DefaultThreshold = 0.5f;

    /// <summary>A batch of at least this many decoded pixels (12 MiB of RGB) is collected as soon as it is done.</summary>
    private const long LargeBatchPixels = 1 << 22;

    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "a model file written by `ssd convert`", Required = true };
        var inputs = new Argument<string[]>("inputs")
        {
            Description = "image files (JPEG, PNG, WebP, BMP, GIF), folders, or quoted patterns such as 'photos/**/*.jpg'",
            Arity = ArgumentArity.OneOrMore,
        };
        var recursive = new Option<bool>("--recursive", "-r") { Description = "take the images in the subfolders of folder inputs too" };
        var json = new Option<string?>("--json") { Description = "write the detections as JSON to this file (- for stdout)" };
        var format = new Option<string>("--format")
        {
            Description = "what --json writes: json (Ssd's per-image list) or coco (COCO results: image_id from the file name, category_id the model's class index)",
            DefaultValueFactory = _ => "json",
        };
        format.AcceptOnlyFromAmong("json", "coco");
        var annotate = new Option<string?>("--annotate") { Description = "write a PNG copy of each image with its detections drawn into this folder" };
        var threshold = CliOptions.Threshold(DefaultThreshold, "report detections scoring above this, in [0, 1]");
        var batch = CliOptions.Int("--batch", 8, 1, "images per forward pass");
        var backend = CliOptions.Backend();
        var inputSize = CliOptions.InputSizeOption();
        var maxPixels = CliOptions.Long("--max-pixels", ImageLimits.Default.MaxPixels, 1, RgbImage.MaxPixels,
            "refuse images of more pixels than this, before decoding them");
        var maxBatchPixels = CliOptions.Long("--max-batch-pixels", ImageLimits.Default.MaxBatchPixels, 1, long.MaxValue,
            "decoded pixels held at once: a batch ends early when the next image would pass this (one image always fits)");
        var command = new Command("detect", "Detect objects in images.")
            { model, inputs, recursive, json, format, annotate, threshold, batch, backend, inputSize, maxPixels, maxBatchPixels };
        command.SetAction(parse =>
        {
            var request = new Request(parse.GetValue(model)!, parse.GetValue(inputs)!, parse.GetValue(recursive), parse.GetValue(json),
                parse.GetValue(format) == "coco", parse.GetValue(annotate), new SsdDetectorOptions
                {
                    Backend = parse.GetValue(backend),
                    ConfidenceThreshold = parse.GetValue(threshold),
                    MaxBatch = parse.GetValue(batch),
                    InputSize = parse.GetValue(inputSize),
                },
                new ImageLimits { MaxPixels = parse.GetValue(maxPixels), MaxBatchPixels = parse.GetValue(maxBatchPixels) });
            return Run(request);
        });
        return command;
    }

    private sealed record Request(string Model, string[] Inputs, bool Recursive, string? Json, bool Coco, string? Annotate,
        SsdDetectorOptions Options, ImageLimits Limits);

    private static int Run(Request r)
    {
        var inputs = InputFiles.Expand(r.Inputs, r.Recursive);
        bool jsonToStdout = r.Json == "-";
        // Human-readable lines go to stdout, unless stdout carries the JSON.
        var log = jsonToStdout ? Console.Error : Console.Out;

        // Every output is checked before the model is even loaded.
        ModelFiles.CheckPath(r.Model, "model");
        var readPaths = inputs.Files.Append(r.Model).ToList();
        if (r.Json is not null && !jsonToStdout) OutputPaths.CheckFile(r.Json, "--json", readPaths, create: false);
        IReadOnlyDictionary<string, string>? annotated = null;
        if (r.Annotate is not null)
        {
            // Checked now, created when the first annotated image is written: a call that fails before leaves no folder.
            OutputPaths.CheckFolder(r.Annotate, "--annotate", create: false);
            annotated = AnnotationPaths.Assign(inputs.Files, r.Annotate);
            var taken = r.Json is not null && !jsonToStdout ? readPaths.Append(r.Json).ToList() : readPaths;
            foreach (var path in annotated.Values) OutputPaths.RefuseInputs(path, "--annotate", taken);
        }

        var failures = new List<(string Path, string Error)>();
        foreach (var (input, error) in inputs.Errors)
        {
            Console.Error.WriteLine($"error: {error}");
            failures.Add((input, error));
        }
        if (inputs.Files.Count == 0)
        {
            Console.Error.WriteLine("error: no image to detect objects in");
            if (jsonToStdout) Console.Out.Write(DetectionJson.Serialize(Path.GetFileNameWithoutExtension(r.Model), r.Options.ConfidenceThreshold, [], failures));
            return ExitCodes.InputsFailed;
        }

        using var detector = ModelFiles.LoadDetector(r.Model, r.Options);
        var results = new List<ImageResult>();
        void Fail(string path, string error)
        {
            Console.Error.WriteLine($"error: {(error.StartsWith(path, StringComparison.Ordinal) ? error : $"{path}: {error}")}");
            failures.Add((path, error));
        }

        // Batches: at most --batch images and ImageLimits.MaxBatchPixels decoded pixels (one image always fits).
        var pending = new List<(string Path, RgbImage Image)>();
        long pendingPixels = 0;
        void Flush()
        {
            if (pending.Count == 0) return;
            foreach (var (path, image, found, error) in DetectBatch(detector, pending))
            {
                if (error is not null) { Fail(path, error); continue; }
                string? annotatedPath = null;
                if (annotated is not null)
                {
                    try
                    {
                        Directory.CreateDirectory(r.Annotate!);
                        ImageEncoder.Save(Annotator.Draw(image, found!.Select(Annotation.From)), annotated[path]);
                        annotatedPath = annotated[path];
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        Fail(path, $"annotated image not written: {ErrorReport.Describe(e)}");
                    }
                }
                var result = new ImageResult(path, image.Width, image.Height, found!, annotatedPath);
                results.Add(result);
                Print(log, result, detailed: r.Json is null);
            }
            pending.Clear();
            // The batch's decoded images are garbage now. Large ones sit in the large-object heap, which the GC
            // collects only on a full collection: without one, a run over big images holds several batches' worth.
            if (pendingPixels >= LargeBatchPixels) GC.Collect();
            pendingPixels = 0;
        }

        foreach (var path in inputs.Files)
        {
            try
            {
                var bytes = ImageFile.ReadAllBytes(path, r.Limits);
                var header = ImageDecoder.ReadHeader(bytes, path);
                if (header.Pixels > r.Limits.MaxPixels)
                    throw new InvalidDataException($"{path}: the image is {header.StoredWidth}x{header.StoredHeight} = {header.Pixels:N0} pixels, over the "
                        + $"{r.Limits.MaxPixels:N0}-pixel budget per image: refused before decoding (--max-pixels raises it)");
                ImageDecoder.CheckBudget(header, path, r.Limits);
                if (pending.Count == r.Options.MaxBatch || pending.Count > 0 && pendingPixels + header.Pixels > r.Limits.MaxBatchPixels) Flush();
                pending.Add((path, ImageDecoder.Decode(bytes, path, r.Limits)));
                pendingPixels += header.Pixels;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Fail(path, ErrorReport.Describe(e));
            }
        }
        Flush();

        string modelName = detector.Model.Name;
        string? jsonNote = null;
        if (jsonToStdout && r.Coco)
        {
            // Through Console.Out, as the plain JSON goes (a caller that redirects Console.Out gets it there).
            using var rows = new MemoryStream();
            CocoResults.WriteTo(rows, CocoRows(results));
            Console.Out.Write(System.Text.Encoding.UTF8.GetString(rows.GetBuffer(), 0, (int)rows.Length));
        }
        else if (jsonToStdout) Console.Out.Write(DetectionJson.Serialize(modelName, r.Options.ConfidenceThreshold, results, failures));
        else if (r.Json is not null)
        {
            if (results.Count > 0)
            {
                OutputPaths.MakeFolderOf(r.Json);
                if (r.Coco) CocoResults.Write(r.Json, CocoRows(results));
                else AtomicFile.WriteAllText(r.Json, DetectionJson.Serialize(modelName, r.Options.ConfidenceThreshold, results, failures));
                jsonNote = $"detections -> {r.Json}";
            }
            else Console.Error.WriteLine($"error: no image succeeded: {r.Json} not written{(File.Exists(r.Json) ? " (the previous file is kept)" : "")}");
        }
        int total = inputs.Files.Count + inputs.Errors.Count, found = results.Sum(x => x.Detections.Count);
        var summary = $"{results.Count} of {total} input{(total == 1 ? "" : "s")} done, {found} detection{(found == 1 ? "" : "s")}";
        if (failures.Count > 0) summary += $", {failures.Count} failed";
        if (jsonNote is not null) summary += $"; {jsonNote}";
        if (annotated is not null && results.Any(x => x.Annotated is not null)) summary += $"; annotated images -> {r.Annotate}";
        log.WriteLine(summary);
        return failures.Count > 0 ? ExitCodes.InputsFailed : ExitCodes.Ok;
    }

    /// <summary>
    /// Runs one batch. An image the network cannot take (too small for --input-size native) fails alone
    /// (<see cref="SsdDetector.DetectEach"/>); an error of the whole batch is every image's.
    /// </summary>
    private static List<(string Path, RgbImage Image, IReadOnlyList<Detection>? Found, string? Error)> DetectBatch(
        SsdDetector detector, List<(string Path, RgbImage Image)> batch)
    {
        try
        {
            var results = detector.DetectEach(batch.Select(b => b.Image).ToList());
            return [.. batch.Select((b, i) => (b.Path, b.Image, results[i].Succeeded ? results[i].Detections : null,
                results[i].Error is { } e ? ErrorReport.Describe(e) : null))];
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            string error = ErrorReport.Describe(e);
            return [.. batch.Select(b => (b.Path, b.Image, (IReadOnlyList<Detection>?)null, (string?)error))];
        }
    }

    /// <summary>
    /// One line per image: its size, its detections (best first, the first five named) and its annotated copy; with
    /// <paramref name="detailed"/> (no --json) every detection on a line of its own.
    /// </summary>
    private static void Print(TextWriter log, ImageResult r, bool detailed)
    {
        var c = CultureInfo.InvariantCulture;
        string count = $"{r.Detections.Count} detection{(r.Detections.Count == 1 ? "" : "s")}";
        string outputs = r.Annotated is null ? "" : $" -> {r.Annotated}";
        if (detailed)
        {
            log.WriteLine($"{r.Path}: {r.Width}x{r.Height}, {count}{outputs}");
            foreach (var d in r.Detections)
                log.WriteLine(string.Create(c, $"  {d.Label,-14} {d.Score:F4}  [{d.Box.X1:F1}, {d.Box.Y1:F1}, {d.Box.X2:F1}, {d.Box.Y2:F1}]"));
            return;
        }
        var named = string.Join(", ", r.Detections.Take(5).Select(d => string.Create(c, $"{d.Label} {d.Score:F2}")));
        if (r.Detections.Count > 5) named += ", ...";
        log.WriteLine($"{r.Path}: {r.Width}x{r.Height}, {count}{(named.Length > 0 ? $" ({named})" : "")}{outputs}");
    }

    /// <summary>COCO results rows: image_id from the file name (a numeric stem is the number), category_id the model's
    /// class index, bbox [x, y, w, h] in image pixels.</summary>
    private static IEnumerable<CocoResults.Row> CocoRows(IEnumerable<ImageResult> results) =>
        results.SelectMany(r =>
        {
            var imageId = CocoResults.ImageIdFromFileName(r.Path);
            return r.Detections.Select(d => new CocoResults.Row(imageId, d.ClassId, d.Label,
                PixelBox.FromCorners(d.Box.X1, d.Box.Y1, d.Box.X2, d.Box.Y2), d.Score));
        });
}
