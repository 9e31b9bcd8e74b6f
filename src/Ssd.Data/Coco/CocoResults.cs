using Ssd.Weights.IO;
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

    /// <summary>Reads a COCO results file (a JSON list of image_id, category_id, bbox, score) against the ground truth's images and classes.</summary>
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
        // The hot loop of scoring a big results file: no closures, and a field's name is built only for an error.
        for (int i = 0; ; i++)
        {
            JsonFields.Next(ref r, file);
            if (r.TokenType == JsonTokenType.EndArray) break;
            if (r.TokenType != JsonTokenType.StartObject)
                throw new DataSetException(file, $"[{i}]", $"expected an object, found {JsonFields.Describe(r.TokenType)}");
            string? imageText = null, label = null;
            long imageNumber = 0;
            bool hasImage = false, hasBox = false, hasScore = false, hasCategory = false;
            long category = 0;
            double s = 0;
            (double X, double Y, double W, double H) b = default;
            while (true)
            {
                JsonFields.Next(ref r, file);
                if (r.TokenType == JsonTokenType.EndObject) break;
                if (r.ValueTextEquals("image_id"u8))
                {
                    JsonFields.Next(ref r, file);
                    hasImage = true;
                    if (r.TokenType == JsonTokenType.Number && r.TryGetInt64(out imageNumber)) imageText = null;
                    else imageText = JsonFields.ImageKey(ref r, file, new JsonFields.Field("", i, ".image_id"));
                }
                else if (r.ValueTextEquals("category_id"u8)) { JsonFields.Next(ref r, file); category = JsonFields.Integer(ref r, file, new JsonFields.Field("", i, ".category_id")); hasCategory = true; }
                else if (r.ValueTextEquals("bbox"u8)) { JsonFields.Next(ref r, file); b = JsonFields.Four(ref r, file, new JsonFields.Field("", i, ".bbox")); hasBox = true; }
                else if (r.ValueTextEquals("score"u8)) { JsonFields.Next(ref r, file); s = JsonFields.Number(ref r, file, new JsonFields.Field("", i, ".score")); hasScore = true; }
                else if (r.ValueTextEquals("label"u8))
                {
                    JsonFields.Next(ref r, file);
                    label = r.TokenType == JsonTokenType.Null ? null : JsonFields.String(ref r, file, new JsonFields.Field("", i, ".label"));
                }
                else { JsonFields.Next(ref r, file); JsonFields.Skip(ref r, file); }
            }
            if (!hasImage) throw new DataSetException(file, $"[{i}].image_id", "missing");
            if (!hasCategory && label is null) throw new DataSetException(file, $"[{i}].category_id", "missing");
            if (!hasBox) throw new DataSetException(file, $"[{i}].bbox", "missing");
            if (!hasScore) throw new DataSetException(file, $"[{i}].score", "missing");
            int k = imageText is null ? lookup.Find(imageNumber) : lookup.Find(imageText);
            if (k < 0)
            {
                var key = imageText ?? imageNumber.ToString(CultureInfo.InvariantCulture);
                if (lookup.IsAmbiguous(key)) throw new DataSetException(file, $"[{i}].image_id", $"'{key}' names more than one image of the ground truth");
                unknownImages.Add(key);
                continue;
            }
            int c = label is not null ? gt.FindClass(label) : classById.GetValueOrDefault(category, -1);
            if (c < 0)
            {
                unknownClasses.Add(label ?? $"category {category}");
                continue;
            }
            detections.Add(new DetectionRecord(k, c, s, PixelBox.FromXywh(b.X, b.Y, b.W, b.H)));
        }
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
    public static void Write(string path, IEnumerable<Row> rows) => AtomicFile.Write(path, stream => WriteTo(stream, rows));

    /// <summary>Writes the rows as a COCO results JSON list to <paramref name="stream"/>.</summary>
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
