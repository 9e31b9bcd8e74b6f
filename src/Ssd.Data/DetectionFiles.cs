using System.Text.Json;
using Ssd.Data.Coco;
using Ssd.Data.Json;

namespace Ssd.Data;

/// <summary>
/// Reads a detection file for scoring, whichever of the two formats it is: a COCO results list
/// (<see cref="CocoResults"/>), or the JSON of <c>ssd detect --json</c>,
/// <c>{"images": [{"path", "width", "height", "detections": [{"class_id", "label", "score", "box": [x1, y1, x2, y2]}]}]}</c>,
/// whose images are found by file name (or by file stem, a VOC id) and classes by <c>label</c>. Boxes in both are
/// image pixels from 0.
/// </summary>
public static class DetectionFiles
{
    /// <summary>Reads a detections file (COCO results JSON or `ssd detect --json` output, told from its contents) against the ground truth.</summary>
    public static ImportedDetections Read(string path, DetectionDataSet gt)
    {
        var bytes = JsonFields.ReadFile(path);
        var r = JsonFields.Reader(bytes);
        JsonFields.Next(ref r, path);
        return r.TokenType switch
        {
            JsonTokenType.StartArray => CocoResults.Read(bytes, path, gt),
            JsonTokenType.StartObject => ReadDetectJson(bytes, path, gt),
            _ => throw new DataSetException(path, "(top level)", "neither a COCO results list nor the JSON of ssd detect"),
        };
    }

    private static ImportedDetections ReadDetectJson(byte[] bytes, string file, DetectionDataSet gt)
    {
        var lookup = new ImageLookup(gt);
        var detections = new List<DetectionRecord>();
        var unknownImages = new SkipCounter();
        var unknownClasses = new SkipCounter();
        bool sawImages = false;
        var r = JsonFields.Reader(bytes);
        JsonFields.Next(ref r, file);
        JsonFields.ReadObject(ref r, file, "(top level)", (ref Utf8JsonReader r, string name) =>
        {
            if (name != "images") { JsonFields.Skip(ref r, file); return; }
            sawImages = true;
            JsonFields.ReadArray(ref r, file, "images", (ref Utf8JsonReader r, int i) =>
            {
                string field = $"images[{i}]";
                string? path = null;
                var rows = new List<(string Label, double Score, PixelBox Box)>();
                JsonFields.ReadObject(ref r, file, field, (ref Utf8JsonReader r, string key) =>
                {
                    switch (key)
                    {
                        case "path": path = JsonFields.String(ref r, file, field + ".path"); break;
                        case "detections":
                            JsonFields.ReadArray(ref r, file, field + ".detections", (ref Utf8JsonReader r, int j) =>
                                rows.Add(ReadDetection(ref r, file, $"{field}.detections[{j}]")));
                            break;
                        default: JsonFields.Skip(ref r, file); break;
                    }
                });
                if (path is null) throw new DataSetException(file, field + ".path", "missing");
                int k = lookup.Find(path);
                if (k < 0)
                {
                    if (lookup.IsAmbiguous(path)) throw new DataSetException(file, field + ".path", $"'{path}' names more than one image of the ground truth");
                    unknownImages.Add(Path.GetFileName(path));
                    return;
                }
                foreach (var (label, score, box) in rows)
                {
                    int c = gt.FindClass(label);
                    if (c < 0) unknownClasses.Add(label);
                    else detections.Add(new DetectionRecord(k, c, score, box));
                }
            });
        });
        if (!sawImages) throw new DataSetException(file, "images", "missing: neither a COCO results list nor the JSON of ssd detect");
        var warnings = unknownImages.Warnings(file, "images");
        warnings.AddRange(unknownClasses.Warnings(file, "classes"));
        return new ImportedDetections(detections, warnings);
    }

    private static (string, double, PixelBox) ReadDetection(ref Utf8JsonReader r, string file, string field)
    {
        string? label = null;
        double? score = null;
        (double X1, double Y1, double X2, double Y2)? box = null;
        JsonFields.ReadObject(ref r, file, field, (ref Utf8JsonReader r, string key) =>
        {
            switch (key)
            {
                case "label": label = JsonFields.String(ref r, file, field + ".label"); break;
                case "score": score = JsonFields.Number(ref r, file, field + ".score"); break;
                case "box": box = JsonFields.Four(ref r, file, field + ".box"); break;
                default: JsonFields.Skip(ref r, file); break;
            }
        });
        if (label is null) throw new DataSetException(file, field + ".label", "missing");
        if (score is not double s) throw new DataSetException(file, field + ".score", "missing");
        if (box is not { } b) throw new DataSetException(file, field + ".box", "missing");
        return (label, s, PixelBox.FromCorners(b.X1, b.Y1, b.X2, b.Y2));
    }
}
