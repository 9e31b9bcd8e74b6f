using System.CommandLine;
using Ssd.Data;
using Ssd.Data.Coco;
using Ssd.Data.Shapes;
using Ssd.Engine.Imaging;
using Ssd.Imaging;

namespace Ssd.Cli.Commands;

/// <summary>
/// `ssd datasets shapes --seed S --count N --out DIR [--start I] [--quality Q]`: writes images I .. I + N - 1 of the
/// synthetic shapes set (<see cref="ShapesDataSet"/>) in COCO format: DIR/instances.json (ids 1..N, categories 1..4
/// circle, square, triangle, star; bbox [x, y, w, h] in pixels from 0, area = w h) and DIR/images/shapes_IIII.jpg.
/// Train or evaluate on it with coco:DIR/instances.json:DIR/images (or, without files, shapes:S:N). The folder appears
/// whole or not at all: everything is written into a temporary folder beside DIR, which is renamed to DIR at the end;
/// DIR must not exist or be empty. Exit codes: 0 written, 1 the files cannot be written, 2 bad usage (nothing written), 130 / 143 interrupted
/// (nothing left behind).
/// </summary>
public static class DatasetsCommand
{
    public static Command Create()
    {
        var seed = CliOptions.Int("--seed", ShapesDataSet.TrainSeed, 0, "the set: every image is a pure function of (seed, index); the example trains on 1 and evaluates on 1000");
        var count = CliOptions.Int("--count", 0, 1, "images to write (required)");
        var start = CliOptions.Int("--start", 0, 0, "the first image's index");
        var quality = CliOptions.Int("--quality", 90, 1, "JPEG quality, 1-100");
        var output = new Option<string?>("--out", "-o") { Description = "the folder to write (new or empty): instances.json and images/" };
        var shapes = new Command("shapes", "Write the synthetic shapes data set (circles, squares, triangles, stars on cluttered backgrounds) in COCO format.")
        {
            seed, count, start, quality, output,
        };
        shapes.SetAction(p => WriteShapes(p.GetValue(seed), p.GetValue(count), p.GetValue(start), p.GetValue(quality), p.GetValue(output),
            p.GetResult(count) is { Implicit: false }));
        return new Command("datasets", "Generate data sets.") { shapes };
    }

    private static int WriteShapes(int seed, int count, int start, int quality, string? dir, bool countGiven)
    {
        if (!countGiven) throw CliException.Usage("--count is required (how many images to write)");
        if (dir is null) throw CliException.Usage("--out is required (the folder to write)");
        if (quality > 100) throw CliException.Usage($"--quality: {quality} is more than 100");
        if ((long)start + count > ShapesDataSet.MaxCount) throw CliException.Usage($"--start {start} --count {count}: the set holds at most {ShapesDataSet.MaxCount} images");
        var full = Path.GetFullPath(dir.TrimEnd(Path.DirectorySeparatorChar) is { Length: > 0 } d ? d : dir);
        if (File.Exists(full)) throw CliException.Usage($"--out {dir}: is a file; give a folder");
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
            throw CliException.Usage($"--out {dir}: the folder exists and is not empty; give a new folder");
        var parent = Path.GetDirectoryName(full)!;
        OutputPaths.CheckFolder(parent, "--out");

        var temp = Path.Combine(parent, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        using var interruption = Interruption.Graceful();
        try
        {
            var images = Path.Combine(temp, "images");
            Directory.CreateDirectory(images);
            var set = ShapesDataSet.Create(seed, count, start, sample =>
                ImageEncoder.Save(new RgbImage(sample.Size, sample.Size, sample.Rgb), Path.Combine(images, ShapesDataSet.FileName(sample.Index)), quality),
                interruption.Token);
            CocoWriter.Write(set, Path.Combine(temp, "instances.json"));
            if (Directory.Exists(full)) Directory.Delete(full);
            Directory.Move(temp, full);
        }
        catch (OperationCanceledException)
        {
            TryDelete(temp);
            return Interruption.ExitCode;
        }
        catch (Exception ex) when (ex is AggregateException or IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            var inner = ex is AggregateException { InnerExceptions.Count: > 0 } a ? a.InnerExceptions[0] : ex;
            throw new CliException($"--out {dir}: cannot write the data set: {ErrorReport.Describe(inner)}", ExitCodes.InputsFailed, inner);
        }
        Console.WriteLine(FormattableString.Invariant($"wrote {count} images of shapes seed {seed} (indices {start}..{start + count - 1}) to {dir}: instances.json, images/; use coco:{Path.Combine(dir, "instances.json")}:{Path.Combine(dir, "images")}"));
        return ExitCodes.Ok;
    }

    private static void TryDelete(string folder)
    {
        try { if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
