using Ssd.Weights.IO;
using System.Globalization;
using System.Xml;
using System.Xml.Linq;

namespace Ssd.Data.Voc;

/// <summary>
/// Writes a data set's annotations in the VOCdevkit layout: <c>Annotations/ID.xml</c> for each image and
/// <c>ImageSets/Main/SPLIT.txt</c> (images are not copied). Boxes are written in VOC's 1-based convention (an image
/// whose <see cref="DataSetImage.PixelOrigin"/> is 0, from COCO, is moved by one pixel), numbers in the shortest
/// form that reads back to the same value, so that <see cref="VocDataSet.Load"/> gives back the same objects.
/// COCO's crowd flag has no VOC field: crowd objects are written as difficult.
/// </summary>
public static class VocWriter
{
    /// <summary>Writes the set in VOC layout under <paramref name="yearDir"/>: one Annotations/ID.xml per image and ImageSets/Main/SPLIT.txt, each atomically.</summary>
    public static void Write(DetectionDataSet set, string yearDir, string split)
    {
        var annotations = Path.Combine(yearDir, "Annotations");
        var main = Path.Combine(yearDir, "ImageSets", "Main");
        Directory.CreateDirectory(annotations);
        Directory.CreateDirectory(main);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var image in set.Images)
        {
            if (!seen.Add(image.Id)) throw new ArgumentException($"image id '{image.Id}' occurs twice: VOC needs one file per id");
            if (image.Id.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0) throw new ArgumentException($"image id '{image.Id}' cannot be a file name");
            AtomicFile.WriteAllText(Path.Combine(annotations, image.Id + ".xml"), ToXml(set, image).ToString());
        }
        AtomicFile.WriteAllText(Path.Combine(main, split + ".txt"), string.Concat(set.Images.Select(i => i.Id + "\n")));
    }

    /// <summary>One image's VOC annotation XML.</summary>
    public static XDocument ToXml(DetectionDataSet set, DataSetImage image)
    {
        double shift = 1 - image.PixelOrigin;
        var root = new XElement("annotation",
            new XElement("folder", "JPEGImages"),
            new XElement("filename", image.FileName));
        if (image.Width is int w && image.Height is int h)
            root.Add(new XElement("size", new XElement("width", w), new XElement("height", h), new XElement("depth", 3)));
        foreach (var o in image.Objects)
        {
            var b = o.Box.Offset(shift);
            root.Add(new XElement("object",
                new XElement("name", set.Classes[o.ClassIndex].Name),
                new XElement("pose", "Unspecified"),
                new XElement("truncated", o.Truncated ? 1 : 0),
                new XElement("difficult", o.Difficult || o.IsCrowd ? 1 : 0),
                new XElement("bndbox",
                    new XElement("xmin", Number(b.X1)), new XElement("ymin", Number(b.Y1)),
                    new XElement("xmax", Number(b.X2)), new XElement("ymax", Number(b.Y2)))));
        }
        return new XDocument(root);
    }

    private static string Number(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
