using Ssd.Weights.IO;
using System.Text.Json;

namespace Ssd.Data.Coco;

/// <summary>
/// Writes a data set as a COCO instances file (images, annotations, categories), atomically. Image ids are the COCO
/// ids where the set has them, else 1..N in order; boxes are moved to pixels from 0 (VOC's 1-based boxes by -1);
/// COCO has no difficult flag: difficult objects are written as crowd (iscrowd 1), which is how Ssd's COCO metric
/// scores them on a VOC set, so the file scores as the set does.
/// </summary>
public static class CocoWriter
{
    /// <summary>Writes the set as a COCO instances JSON file (images, categories, annotations), atomically.</summary>
    public static void Write(DetectionDataSet set, string path) => AtomicFile.Write(path, stream =>
    {
        using var w = new Utf8JsonWriter(stream);
        w.WriteStartObject();
        w.WriteStartObject("info");
        w.WriteString("description", set.Source);
        w.WriteString("generator", "Ssd.Data.Coco.CocoWriter");
        w.WriteEndObject();
        var ids = set.Images.Select((image, i) => image.CocoId ?? i + 1).ToArray();
        if (ids.Distinct().Count() != ids.Length) throw new ArgumentException("two images have the same COCO id");
        w.WriteStartArray("images");
        for (int i = 0; i < set.Images.Count; i++)
        {
            var image = set.Images[i];
            w.WriteStartObject();
            w.WriteNumber("id", ids[i]);
            w.WriteString("file_name", image.FileName);
            if (image.Width is int width) w.WriteNumber("width", width);
            if (image.Height is int height) w.WriteNumber("height", height);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("annotations");
        long next = 1;
        var used = new HashSet<long>();
        for (int i = 0; i < set.Images.Count; i++)
        {
            var image = set.Images[i];
            foreach (var o in image.Objects)
            {
                // Annotation ids are kept when they are unique (a COCO set), else renumbered (combined VOC sets).
                long id = used.Add(o.Id) ? o.Id : NextFree(used, ref next);
                var b = o.Box.Offset(-image.PixelOrigin);
                w.WriteStartObject();
                w.WriteNumber("id", id);
                w.WriteNumber("image_id", ids[i]);
                w.WriteNumber("category_id", set.Classes[o.ClassIndex].Id);
                w.WriteStartArray("bbox");
                w.WriteNumberValue(b.X1);
                w.WriteNumberValue(b.Y1);
                w.WriteNumberValue(b.Width);
                w.WriteNumberValue(b.Height);
                w.WriteEndArray();
                w.WriteNumber("area", o.Area);
                w.WriteNumber("iscrowd", o.IsCrowd || o.Difficult ? 1 : 0);
                w.WriteEndObject();
            }
        }
        w.WriteEndArray();
        w.WriteStartArray("categories");
        foreach (var c in set.Classes)
        {
            w.WriteStartObject();
            w.WriteNumber("id", c.Id);
            w.WriteString("name", c.Name);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    });

    private static long NextFree(HashSet<long> used, ref long next)
    {
        while (!used.Add(next)) next++;
        return next;
    }
}
