using System.Globalization;
using System.Text.Json;
using Ssd.Data.Json;

namespace Ssd.Data.Coco;

/// <summary>
/// The COCO results format, a JSON list of <c>{"image_id", "category_id", "bbox": [x, y, w, h], "score"}</c>, what
/// pycocotools' <c>loadRes</c> reads. Boxes are in image pixels from 0. Ssd also writes a <c>label</c> (the class
/// name; pycocotools ignores it) and, reading, prefers it to <c>category_id</c> when present, so that a file written
/// with a model's class numbers still finds the data set's classes by name. A data set image without a COCO id
/// (VOC) is written with its id as a string.
/// </summary>
public static class CocoResults
{
    /// <summary>One row of a results file. <see cref="ImageId"/> is a number (COCO) or a string (VOC ids, file stems).</summary>
    public readonly record struct Row(object ImageId, long CategoryId, string? Label, PixelBox Box, double Score);

    public static ImportedDetections Read(string path, DetectionDataSet gt) => Read(JsonFields.ReadFile(path), path, gt);

    internal static ImportedDetections Read(byte[] bytes, string file, DetectionDataSet gt)
    {
        var lookup = new ImageLookup(gt);
        var classById = new Dictionary<long, int>();
        for (int c = 0; c < gt.Classes.Count; c++) classById.TryAdd(gt.Classes[c].Id, c);
        var detections = new List<DetectionRecord>();
        var unknownImages = new SkipCounter();
        var unknownClasses = new SkipCounter();
        var r = JsonFields.Reader(bytes);
        JsonFields.Next(ref r, file);
        if (r.TokenType != JsonTokenType.StartArray)
            throw new DataSetException(file, "(top level)", "not a COCO results file: expected a list of detections");
        JsonFields.ReadArray(ref r, file, "(top level)", (ref Utf8JsonReader r, int i) =>
        {
            string field = $"[{i}]";
            string? image = null, label = null;
            long? category = null;
            double? score = null;
            (double X, double Y, double W, double H)? box = null;
            JsonFields.ReadObject(ref r, file, field, (ref Utf8JsonReader r, string name) =>
            {
                switch (name)
                {
                    case "image_id": image = JsonFields.ImageKey(ref r, file, field + ".image_id"); break;
                    case "category_id": category = JsonFields.Integer(ref r, file, field + ".category_id"); break;
                    case "label": label = r.TokenType == JsonTokenType.Null ? null : JsonFields.String(ref r, file, field + ".label"); break;
                    case "bbox": box = JsonFields.Four(ref r, file, field + ".bbox"); break;
                    case "score": score = JsonFields.Number(ref r, file, field + ".score"); break;
                    default: JsonFields.Skip(ref r, file); break;
                }
            });
            if (image is null) throw new DataSetException(file, field + ".image_id", "missing");
            if (category is null && label is null) throw new DataSetException(file, field + ".category_id", "missing");
            if (box is not { } b) throw new DataSetException(file, field + ".bbox", "missing");
            if (score is not double s) throw new DataSetException(file, field + ".score", "missing");
            int k = lookup.Find(image);
            if (k < 0)
            {
                if (lookup.IsAmbiguous(image)) throw new DataSetException(file, field + ".image_id", $"'{image}' names more than one image of the ground truth");
                unknownImages.Add(image);
                return;
            }
            int c = label is not null ? gt.FindClass(label) : classById.GetValueOrDefault(category!.Value, -1);
            if (c < 0)
            {
                unknownClasses.Add(label ?? $"category {category}");
                return;
            }
            detections.Add(new DetectionRecord(k, c, s, PixelBox.FromXywh(b.X, b.Y, b.W, b.H)));
        });
        var warnings = unknownImages.Warnings(file, "images");
        warnings.AddRange(unknownClasses.Warnings(file, "classes"));
        return new ImportedDetections(detections, warnings);
    }

    /// <summary>The rows for <paramref name="detections"/> scored on <paramref name="gt"/>: image ids and category
    /// ids as the ground truth numbers them, the class name as label.</summary>
    public static IEnumerable<Row> Rows(DetectionDataSet gt, IEnumerable<DetectionRecord> detections) =>
        detections.Select(d =>
        {
            var image = gt.Images[d.ImageIndex];
            var cls = gt.Classes[d.ClassIndex];
            return new Row(image.CocoId is long id ? id : image.Id, cls.Id, cls.Name, d.Box, d.Score);
        });

    /// <summary>Writes the rows atomically (a temporary file, then a rename).</summary>
    public static void Write(string path, IEnumerable<Row> rows) => AtomicFile.Write(path, tmp =>
    {
        using var stream = File.Create(tmp);
        WriteTo(stream, rows);
    });

    public static void WriteTo(Stream stream, IEnumerable<Row> rows)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false });
        w.WriteStartArray();
        foreach (var row in rows)
        {
            w.WriteStartObject();
            if (row.ImageId is string text) w.WriteString("image_id", text);
            else w.WriteNumber("image_id", Convert.ToInt64(row.ImageId, CultureInfo.InvariantCulture));
            w.WriteNumber("category_id", row.CategoryId);
            if (row.Label is not null) w.WriteString("label", row.Label);
            w.WriteStartArray("bbox");
            w.WriteNumberValue(row.Box.X1);
            w.WriteNumberValue(row.Box.Y1);
            w.WriteNumberValue(row.Box.Width);
            w.WriteNumberValue(row.Box.Height);
            w.WriteEndArray();
            w.WriteNumber("score", row.Score);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    /// <summary>
    /// How <c>ssd detect --format coco</c> names an image that belongs to no data set: the number of a numeric file
    /// stem (COCO's 000000397133.jpg is 397133), else the stem itself.
    /// </summary>
    public static object ImageIdFromFileName(string path)
    {
        var stem = Path.GetFileNameWithoutExtension(path);
        return stem.Length is > 0 and <= 18 && stem.All(char.IsAsciiDigit) ? long.Parse(stem, CultureInfo.InvariantCulture) : stem;
    }
}
