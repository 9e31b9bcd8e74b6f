using Ssd.Weights.IO;
using System.CommandLine;
using System.Globalization;
using Ssd.Cli.Evaluation;
using Ssd.Data;
using Ssd.Data.Coco;
using Ssd.Data.Metrics;
using Ssd.Engine.Detection;

namespace Ssd.Cli.Commands;

/// <summary>
/// `ssd eval --model M.safetensors | --detections FILE  --ground-truth voc:VOC_DIR[:SPLIT] | coco:INSTANCES.json[:IMAGE_DIR]
/// [--metric voc07|voc2010|coco] [--batch N] [--backend B] [--json OUT.json] [--detections-out RESULTS.json] [--plot OUT_DIR]`:
/// scores a model (run over the set's images) or a detection file (a COCO results list or `ssd detect`'s JSON; no
/// image is read) on a VOC or COCO data set, prints a per-class AP table and the headline numbers.
/// Exit codes: 0 done, 1 bad data (annotations, detections, images), 2 bad usage, 3 model or device error.
/// </summary>
public static class EvalCommand
{
    public const int BadData = 1, Usage = 2, ModelError = 3;

    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "a model file written by `ssd convert`: run it over the data set's images" };
        var detections = new Option<string?>("--detections") { Description = "score this file instead: a COCO results list or the JSON of `ssd detect` (no image is read)" };
        var groundTruth = new Option<string>("--ground-truth", "-g")
        {
            Description = "voc:VOC_DIR[:SPLIT] (the year folder with Annotations/; default split: test) or coco:INSTANCES.json[:IMAGE_DIR]; several joined with +",
            Required = true,
        };
        var metric = new Option<string?>("--metric") { Description = "voc07 (11-point), voc2010 (all-point) or coco (default: coco for COCO sets, voc07 otherwise)" };
        var batch = new Option<int>("--batch") { Description = "images per forward pass", DefaultValueFactory = _ => 8 };
        var backend = new Option<string>("--backend") { Description = "auto, cuda, opencl, cpu-sim or cpu", DefaultValueFactory = _ => "auto" };
        var json = new Option<string?>("--json") { Description = "write the numbers as JSON to this file" };
        var detectionsOut = new Option<string?>("--detections-out") { Description = "write the model's detections to this file (COCO results format)" };
        var plot = new Option<string?>("--plot") { Description = "write precision-recall curves as PNG into this folder (one per class and an overview)" };
        var command = new Command("eval", "Score a model or a detection file on a VOC or COCO data set (VOC07, VOC2010 or COCO mAP).")
            { model, detections, groundTruth, metric, batch, backend, json, detectionsOut, plot };
        command.SetAction(parse => Run(new Arguments(parse.GetValue(model), parse.GetValue(detections), parse.GetValue(groundTruth)!,
            parse.GetValue(metric), parse.GetValue(batch), parse.GetValue(backend)!, parse.GetValue(json), parse.GetValue(detectionsOut), parse.GetValue(plot))));
        return command;
    }

    private sealed record Arguments(string? Model, string? Detections, string GroundTruth, string? Metric, int Batch, string Backend,
        string? Json, string? DetectionsOut, string? Plot);

    private static int Run(Arguments a)
    {
        var err = Console.Error;
        MetricKind? metric;
        DetectorBackend backend;
        IReadOnlyList<DataSetSpec> specs;
        try
        {
            if ((a.Model is null) == (a.Detections is null)) throw new ArgumentException("give either --model (run a model) or --detections (score a file)");
            if (a.Batch <= 0) throw new ArgumentException("--batch must be positive");
            metric = a.Metric is null ? null : MetricNames.Parse(a.Metric);
            backend = DetectorBackendNames.Parse(a.Backend);
            specs = DataSetSpec.Parse(a.GroundTruth);
            foreach (var path in new[] { a.Json, a.DetectionsOut }.OfType<string>())
                if (Directory.Exists(path)) throw new ArgumentException($"{path}: is a folder, not a file");
            if (a.DetectionsOut is not null && a.Model is null) throw new ArgumentException("--detections-out needs --model");
        }
        catch (ArgumentException e)
        {
            err.WriteLine($"error: {e.Message}");
            return Usage;
        }

        DetectionDataSet gt;
        try { gt = DetectionDataSet.Combine(specs.Select(s => s.Load()).ToList()); }
        catch (DataSetException e)
        {
            err.WriteLine($"error: {e.Message}");
            return BadData;
        }
        var kind = metric ?? (specs.All(s => s.Format == "coco") ? MetricKind.Coco : MetricKind.Voc07);
        Console.WriteLine(FormattableString.Invariant(
            $"ground truth: {gt.Source}: {gt.Images.Count} images, {gt.ObjectCount} objects, {gt.Classes.Count} classes; metric {MetricNames.Name(kind)}"));
        ReportIssues(gt, err);

        IReadOnlyList<DetectionRecord> records;
        if (a.Detections is not null)
        {
            try
            {
                var imported = DetectionFiles.Read(a.Detections, gt);
                foreach (var w in imported.Warnings) err.WriteLine($"warning: {w}");
                records = imported.Detections;
                Console.WriteLine($"detections: {a.Detections}: {records.Count} scored");
            }
            catch (DataSetException e)
            {
                err.WriteLine($"error: {e.Message}");
                return BadData;
            }
        }
        else
        {
            int rc = RunModel(a, backend, gt, err, out records);
            if (rc != 0) return rc;
        }

        MetricResult result;
        CocoEvaluator? coco = null;
        if (kind == MetricKind.Coco)
        {
            coco = CocoEvaluator.Evaluate(gt, records);
            result = coco.ToResult();
        }
        else result = Evaluator.Evaluate(kind, gt, records);

        Console.WriteLine();
        Console.Write(EvalReport.Text(result, coco));
        try
        {
            if (a.Json is not null)
            {
                AtomicFile.WriteAllText(a.Json, EvalReport.Json(result));
                Console.WriteLine($"numbers written to {a.Json}");
            }
            if (a.Plot is not null)
            {
                var title = a.Model is not null ? Path.GetFileNameWithoutExtension(a.Model) : Path.GetFileNameWithoutExtension(a.Detections!);
                var files = PrPlot.WriteAll(result, title, a.Plot);
                Console.WriteLine($"{files.Count} precision-recall plots written to {a.Plot}");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            err.WriteLine($"error: cannot write the output: {e.Message}");
            return BadData;
        }
        return 0;
    }

    private static int RunModel(Arguments a, DetectorBackend backend, DetectionDataSet gt, TextWriter err, out IReadOnlyList<DetectionRecord> records)
    {
        records = [];
        SsdDetector detector;
        try { detector = SsdDetector.Load(a.Model!, new SsdDetectorOptions { Backend = backend, MaxBatch = a.Batch }); }
        catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException or NotSupportedException or InvalidOperationException or UnauthorizedAccessException)
        {
            err.WriteLine($"error: {e.Message}");
            return ModelError;
        }
        using (detector)
        {
            var post = detector.Model.PostProcess;
            ClassMapping classes;
            try
            {
                var names = post.ClassNames ?? new string[post.NumClasses];
                classes = ClassMapping.ByName(names, post.BackgroundId, gt);
            }
            catch (ClassMappingException e)
            {
                err.WriteLine($"error: {a.Model}: {e.Message}");
                return BadData;
            }
            if (classes.UnusedModelClasses.Count > 0)
                Console.WriteLine($"note: model classes not in the data set (their detections are dropped): {string.Join(", ", classes.UnusedModelClasses.Take(12))}{(classes.UnusedModelClasses.Count > 12 ? ", ..." : "")}");
            var runner = new ModelRunner(detector, gt, classes, a.Batch, err);
            List<DetectionRecord> found;
            try { found = runner.Run(); }
            catch (DataSetException e)
            {
                err.WriteLine($"error: {e.Message}");
                return BadData;
            }
            catch (Exception e) when (e is InvalidOperationException or NotSupportedException)
            {
                err.WriteLine($"error: {a.Model}: {e.Message}");
                return ModelError;
            }
            double seconds = runner.Elapsed.TotalSeconds;
            Console.WriteLine(FormattableString.Invariant(
                $"{detector.Model.Name}: {gt.Images.Count} images in {seconds:F1} s ({gt.Images.Count / Math.Max(seconds, 1e-9):F1} images/s), {found.Count} detections"));
            if (runner.DroppedDetections > 0) Console.WriteLine($"note: {runner.DroppedDetections} detections of model classes not in the data set dropped");
            if (runner.SizeMismatches > 0)
                err.WriteLine($"warning: {runner.SizeMismatches} images decode to another size than their annotation says (boxes may not line up)");
            if (a.DetectionsOut is not null)
            {
                try
                {
                    CocoResults.Write(a.DetectionsOut, CocoResults.Rows(gt, found));
                    Console.WriteLine($"detections written to {a.DetectionsOut} (COCO results format)");
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    err.WriteLine($"error: cannot write {a.DetectionsOut}: {e.Message}");
                    return BadData;
                }
            }
            records = found;
            return 0;
        }
    }

    private static void ReportIssues(DetectionDataSet gt, TextWriter err)
    {
        if (gt.Issues.Count == 0) return;
        int skipped = gt.Issues.Count(i => i.Problem.EndsWith("skipped", StringComparison.Ordinal));
        if (skipped > 0) err.WriteLine(string.Create(CultureInfo.InvariantCulture, $"warning: {skipped} annotated boxes skipped:"));
        foreach (var issue in gt.Issues.Take(10)) err.WriteLine($"  {issue}");
        if (gt.Issues.Count > 10) err.WriteLine($"  ... and {gt.Issues.Count - 10} more");
    }
}
