using System.Globalization;
using System.Xml;
using System.Xml.Linq;

namespace Ssd.Data.Voc;

/// <summary>
/// PASCAL VOC in the VOCdevkit layout: a year's folder (VOC2007, VOC2012, or any folder laid out like them) with
/// <c>Annotations/ID.xml</c>, <c>ImageSets/Main/SPLIT.txt</c> (one image id per line) and <c>JPEGImages/</c>.
/// Boxes are kept as the XML writes them: 1-based pixel numbers, xmax and ymax inclusive
/// (<see cref="DataSetImage.PixelOrigin"/> = 1). Objects keep <c>difficult</c> and <c>truncated</c> (absent = 0).
/// </summary>
public static class VocDataSet
{
    /// <summary>
    /// Reads the images of <paramref name="split"/> (null: every XML file in Annotations, by name). The class list
    /// is <paramref name="classes"/> when given (an object of another class is then an error), else the names found,
    /// sorted (the 20 VOC classes come out in the devkit's order, which is alphabetical). A degenerate box or one
    /// outside the image (<see cref="BoxChecks"/>) is skipped and listed in <see cref="DetectionDataSet.Issues"/>;
    /// malformed XML, a missing annotation file or a missing field throws <see cref="DataSetException"/>.
    /// </summary>
    public static DetectionDataSet Load(string yearDir, string? split = null, IReadOnlyList<string>? classes = null)
    {
        var annotations = Path.Combine(yearDir, "Annotations");
        if (!Directory.Exists(annotations))
            throw new DataSetException(yearDir, null, "not a VOC year folder: it has no Annotations/ folder");
        var ids = split is null ? AllIds(annotations) : ReadSplit(yearDir, split);
        var parsed = new ParsedFile[ids.Count];
        var errors = new DataSetException?[ids.Count];
        Parallel.For(0, ids.Count, i =>
        {
            try { parsed[i] = ParseFile(Path.Combine(annotations, ids[i] + ".xml"), DisplayPath(yearDir, ids[i])); }
            catch (DataSetException e) { errors[i] = e; }
        });
        if (errors.FirstOrDefault(e => e is not null) is { } first) throw first;

        var names = classes?.ToList() ?? parsed.SelectMany(p => p.Objects.Select(o => o.Name))
            .Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.OrdinalIgnoreCase).ToList();
        var classList = names.Select((n, i) => new DataSetClass(n, i + 1)).ToList();
        var classIndex = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < names.Count; i++) classIndex.TryAdd(names[i].Trim(), i);

        var images = new List<DataSetImage>(ids.Count);
        var issues = new List<DataSetIssue>();
        long nextId = 1;
        var jpegs = Path.Combine(yearDir, "JPEGImages");
        for (int i = 0; i < ids.Count; i++)
        {
            var p = parsed[i];
            var objects = new List<GroundTruthObject>(p.Objects.Count);
            for (int k = 0; k < p.Objects.Count; k++)
            {
                var o = p.Objects[k];
                if (!classIndex.TryGetValue(o.Name, out int c))
                    throw new DataSetException(p.DisplayPath, $"object[{k}].name",
                        $"unknown class '{o.Name}' (the classes are: {string.Join(", ", names)})");
                if (BoxChecks.Problem(o.Box, p.Width, p.Height) is { } problem)
                {
                    issues.Add(new DataSetIssue(p.DisplayPath, $"object[{k}].bndbox", problem));
                    continue;
                }
                objects.Add(new GroundTruthObject(c, o.Box)
                {
                    Difficult = o.Difficult, Truncated = o.Truncated, Area = o.Box.Area, Id = nextId++,
                });
            }
            images.Add(new DataSetImage(ids[i], ImagePath(jpegs, ids[i], p.FileName), objects)
            {
                Width = p.Width, Height = p.Height, PixelOrigin = 1,
            });
        }
        var source = split is null ? $"voc:{yearDir}" : $"voc:{yearDir}:{split}";
        return new DetectionDataSet(source, classList, images, issues);
    }

    /// <summary>The ids listed in ImageSets/Main/SPLIT.txt (first word of each non-empty line), in order.</summary>
    public static List<string> ReadSplit(string yearDir, string split)
    {
        var file = Path.Combine(yearDir, "ImageSets", "Main", split + ".txt");
        if (!File.Exists(file))
        {
            var main = Path.Combine(yearDir, "ImageSets", "Main");
            var known = Directory.Exists(main)
                ? Directory.EnumerateFiles(main, "*.txt").Select(Path.GetFileNameWithoutExtension).Where(n => n is not null && !n.Contains('_')).Order(StringComparer.Ordinal).ToList()
                : [];
            throw new DataSetException(file, null, known.Count > 0
                ? $"no such split '{split}' (this folder has: {string.Join(", ", known)})"
                : $"no such split '{split}': ImageSets/Main/{split}.txt does not exist");
        }
        var ids = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int line = 0;
        foreach (var text in File.ReadLines(file))
        {
            line++;
            var id = text.Split((char[]?)null, 2, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            if (id is null) continue;
            if (id.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || id is "." or "..")
                throw new DataSetException(file, $"line {line}", $"'{id}' is not an image id (a file name without extension)");
            if (!seen.Add(id)) throw new DataSetException(file, $"line {line}", $"image id '{id}' is listed twice");
            ids.Add(id);
        }
        return ids;
    }

    private static List<string> AllIds(string annotations) =>
        Directory.EnumerateFiles(annotations, "*.xml").Select(f => Path.GetFileNameWithoutExtension(f)!)
            .Order(StringComparer.Ordinal).ToList();

    private static string DisplayPath(string yearDir, string id) => Path.Combine(yearDir, "Annotations", id + ".xml");

    /// <summary>JPEGImages/&lt;filename from the XML&gt; when that file exists, else ID.jpg (or .jpeg / .png if one
    /// of those exists): the devkit itself always opens ID.jpg, labelling tools sometimes write other names.</summary>
    private static string ImagePath(string jpegs, string id, string? fileName)
    {
        if (fileName is { Length: > 0 } && fileName.IndexOfAny(Path.GetInvalidFileNameChars()) < 0)
        {
            var named = Path.Combine(jpegs, fileName);
            if (File.Exists(named)) return named;
        }
        foreach (var ext in (string[])[".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG"])
        {
            var candidate = Path.Combine(jpegs, id + ext);
            if (File.Exists(candidate)) return candidate;
        }
        return Path.Combine(jpegs, id + ".jpg");
    }

    private sealed record ParsedObject(string Name, PixelBox Box, bool Difficult, bool Truncated);
    private sealed record ParsedFile(string DisplayPath, string? FileName, int? Width, int? Height, List<ParsedObject> Objects);

    private static readonly XmlReaderSettings Safe = new()
    {
        DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null, IgnoreComments = true, MaxCharactersInDocument = 64L << 20,
    };

    private static ParsedFile ParseFile(string path, string display)
    {
        XElement root;
        try
        {
            using var stream = File.OpenRead(path);
            using var reader = XmlReader.Create(stream, Safe);
            root = XDocument.Load(reader).Root ?? throw new DataSetException(display, null, "empty XML document");
        }
        catch (FileNotFoundException e) { throw new DataSetException(display, null, "missing annotation file (listed in the split)", e); }
        catch (DirectoryNotFoundException e) { throw new DataSetException(display, null, "missing annotation file (listed in the split)", e); }
        catch (XmlException e) { throw new DataSetException(display, $"line {e.LineNumber}", $"malformed XML: {Ssd.Weights.ReaderErrors.Printable(e.Message, 200)}", e); }
        catch (IOException e) { throw new DataSetException(display, null, $"cannot read: {e.Message}", e); }
        catch (UnauthorizedAccessException e) { throw new DataSetException(display, null, $"cannot read: {e.Message}", e); }
        if (root.Name.LocalName != "annotation")
            throw new DataSetException(display, root.Name.LocalName, "the root element is not <annotation>");

        var size = root.Element("size");
        int? width = OptionalSize(size, "width", display), height = OptionalSize(size, "height", display);
        var objects = new List<ParsedObject>();
        int k = 0;
        foreach (var obj in root.Elements("object"))
        {
            string field = $"object[{k}]";
            var name = obj.Element("name")?.Value.Trim();
            if (string.IsNullOrEmpty(name)) throw new DataSetException(display, field + ".name", "missing or empty");
            var box = obj.Element("bndbox") ?? throw new DataSetException(display, field + ".bndbox", "missing");
            double x1 = Coordinate(box, "xmin", display, field), y1 = Coordinate(box, "ymin", display, field);
            double x2 = Coordinate(box, "xmax", display, field), y2 = Coordinate(box, "ymax", display, field);
            objects.Add(new ParsedObject(name, PixelBox.FromCorners(x1, y1, x2, y2),
                Flag(obj, "difficult", display, field), Flag(obj, "truncated", display, field)));
            k++;
        }
        return new ParsedFile(display, root.Element("filename")?.Value.Trim(), width, height, objects);
    }

    private static double Coordinate(XElement box, string name, string display, string field)
    {
        var text = box.Element(name)?.Value.Trim();
        if (string.IsNullOrEmpty(text)) throw new DataSetException(display, $"{field}.bndbox.{name}", "missing");
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
            throw new DataSetException(display, $"{field}.bndbox.{name}", $"'{text}' is not a number");
        return v;
    }

    private static bool Flag(XElement obj, string name, string display, string field)
    {
        var text = obj.Element(name)?.Value.Trim();
        if (string.IsNullOrEmpty(text)) return false;
        return text switch
        {
            "0" or "false" or "False" => false,
            "1" or "true" or "True" => true,
            _ => throw new DataSetException(display, $"{field}.{name}", $"'{text}' is not 0 or 1"),
        };
    }

    /// <summary>size/width or size/height: absent or 0 (some tools write 0) means unknown.</summary>
    private static int? OptionalSize(XElement? size, string name, string display)
    {
        var text = size?.Element(name)?.Value.Trim();
        if (string.IsNullOrEmpty(text)) return null;
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < 0)
        {
            // A few tools write "640.0".
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && d >= 0 && d <= int.MaxValue && d == Math.Floor(d))
                v = (int)d;
            else throw new DataSetException(display, $"size.{name}", $"'{text}' is not a pixel count");
        }
        return v == 0 ? null : v;
    }
}
