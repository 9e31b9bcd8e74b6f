namespace Ssd.Data;

/// <summary>One class of a data set: its name as the data set spells it and its id there (a COCO category id; for
/// VOC the 1-based position in the class list).</summary>
public sealed record DataSetClass(string Name, long Id);

/// <summary>
/// One annotated object. <see cref="ClassIndex"/> indexes <see cref="DetectionDataSet.Classes"/>. Flags as the formats
/// define them: VOC's difficult and truncated, COCO's iscrowd (a crowd region: one box over many objects).
/// <see cref="Area"/> is COCO's annotation area (the segmentation's, not the box's) and decides the COCO size range;
/// for VOC it is the box's width x height. <see cref="Id"/> is the COCO annotation id (VOC: a running number from 1).
/// </summary>
public sealed record GroundTruthObject(int ClassIndex, PixelBox Box)
{
    /// <summary>VOC's difficult flag (ignored by the VOC metric: neither a hit nor a miss).</summary>
    public bool Difficult { get; init; }

    /// <summary>VOC's truncated flag.</summary>
    public bool Truncated { get; init; }

    /// <summary>COCO's iscrowd: a region over many objects (matches are free, never false positives).</summary>
    public bool IsCrowd { get; init; }

    /// <summary>COCO's annotation area (VOC: the box's), which picks the COCO size range.</summary>
    public double Area { get; init; }

    /// <summary>The COCO annotation id (VOC: a running number from 1).</summary>
    public long Id { get; init; }
}

/// <summary>
/// One image of a data set and its objects (in file order). <see cref="Id"/> is unique within the set it was read
/// from: the VOC image id (the file stem listed in ImageSets) or the COCO image id as text, with <see cref="CocoId"/>
/// the number. Width and height are the annotation's, when it has them. <see cref="PixelOrigin"/> is the coordinate
/// of the first pixel's left edge in the annotation's convention: 1 for VOC (the devkit numbers pixels from 1), 0 for
/// COCO; a detector's boxes (pixels from 0) are moved by it before they are compared with the annotation.
/// </summary>
public sealed record DataSetImage(string Id, string FilePath, IReadOnlyList<GroundTruthObject> Objects)
{
    /// <summary>The COCO image id as a number (null for VOC).</summary>
    public long? CocoId { get; init; }

    /// <summary>The width the annotation gives, if any.</summary>
    public int? Width { get; init; }

    /// <summary>The height the annotation gives, if any.</summary>
    public int? Height { get; init; }

    /// <summary>The annotation's coordinate of the first pixel's left edge (VOC 1, COCO 0).</summary>
    public double PixelOrigin { get; init; }

    /// <summary>The image file's name without its folder.</summary>
    public string FileName => Path.GetFileName(FilePath);

    /// <summary>An image held in memory (a generated set such as <c>shapes:SEED:COUNT</c>): draws its RGB bytes
    /// (<see cref="Width"/> x <see cref="Height"/> x 3, row-major) on demand, and <see cref="FilePath"/> is a name only.
    /// Null for an image read from its file.</summary>
    public Func<byte[]>? Render { get; init; }
}

/// <summary>
/// Something wrong in an annotation that did not stop the loading: the object named was skipped and counted.
/// <see cref="File"/> and <see cref="Field"/> say where (e.g. "Annotations/0001.xml", "object[3].bndbox").
/// </summary>
public sealed record DataSetIssue(string File, string Field, string Problem)
{
    /// <summary>"file: field: problem".</summary>
    public override string ToString() => $"{File}: {Field}: {Problem}";
}

/// <summary>A data set that cannot be read: the file, the field and the problem are in the message, which is always
/// one line (control characters quoted from a file, such as a newline in a class name, are escaped).</summary>
public sealed class DataSetException : Exception
{
    /// <summary>The file at fault.</summary>
    public string File { get; }

    /// <summary>The field at fault, if one is (e.g. "object[3].bndbox").</summary>
    public string? Field { get; }

    /// <summary>An error naming the file, the field (if any) and the problem, in one line.</summary>
    public DataSetException(string file, string? field, string problem, Exception? inner = null)
        : base(Ssd.Weights.ReaderErrors.Printable(field is null ? $"{file}: {problem}" : $"{file}: {field}: {problem}", int.MaxValue), inner)
    {
        File = file;
        Field = field;
    }
}

/// <summary>
/// A detection data set: an ordered list of images with their objects, and the class list. Made by
/// <see cref="Voc.VocDataSet"/>, <see cref="Coco.CocoDataSet"/> or <see cref="DataSetSpec"/> (which also combines
/// several sets). Boxes are in pixels, in each image's own convention (<see cref="DataSetImage.PixelOrigin"/>).
/// </summary>
public sealed class DetectionDataSet
{
    private readonly Dictionary<string, int> classByName;

    /// <summary>A set of <paramref name="images"/> over <paramref name="classes"/>; a class listed twice or an object of
    /// an unknown class is an <see cref="ArgumentException"/>.</summary>
    public DetectionDataSet(string source, IReadOnlyList<DataSetClass> classes, IReadOnlyList<DataSetImage> images,
        IReadOnlyList<DataSetIssue>? issues = null)
    {
        Source = source;
        Classes = classes;
        Images = images;
        Issues = issues ?? [];
        classByName = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < classes.Count; i++)
            if (!classByName.TryAdd(classes[i].Name.Trim(), i))
                throw new ArgumentException($"{source}: class '{classes[i].Name}' is listed twice (names are compared ignoring case)");
        foreach (var image in images)
            foreach (var o in image.Objects)
                if ((uint)o.ClassIndex >= (uint)classes.Count)
                    throw new ArgumentException($"{source}: image {image.Id}: class index {o.ClassIndex} outside 0..{classes.Count - 1}");
    }

    /// <summary>Where the set came from (a <see cref="DataSetSpec"/> text, or a path).</summary>
    public string Source { get; }
    /// <summary>The classes, by index.</summary>
    public IReadOnlyList<DataSetClass> Classes { get; }

    /// <summary>The images in file order.</summary>
    public IReadOnlyList<DataSetImage> Images { get; }

    /// <summary>Objects skipped while loading (degenerate or out-of-range boxes), each with its file and field.</summary>
    public IReadOnlyList<DataSetIssue> Issues { get; }

    /// <summary>Objects over all images.</summary>
    public int ObjectCount => Images.Sum(i => i.Objects.Count);

    /// <summary>The index of the class with this name, ignoring case and surrounding spaces; -1 if there is none.</summary>
    public int FindClass(string name) => classByName.TryGetValue(name.Trim(), out int i) ? i : -1;

    /// <summary>
    /// One set of several, in order: their images one after the other, the class list the union by name (ignoring
    /// case; first spelling and first set's order kept, new names appended). COCO category ids are kept where the sets
    /// agree; otherwise the combined set numbers its classes 1..K.
    /// </summary>
    public static DetectionDataSet Combine(IReadOnlyList<DetectionDataSet> sets)
    {
        ArgumentOutOfRangeException.ThrowIfZero(sets.Count);
        if (sets.Count == 1) return sets[0];
        var names = new List<string>();
        var ids = new List<long>();
        var index = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        bool idsAgree = true;
        var remaps = new List<int[]>();
        foreach (var set in sets)
        {
            var remap = new int[set.Classes.Count];
            for (int c = 0; c < set.Classes.Count; c++)
            {
                var name = set.Classes[c].Name.Trim();
                if (!index.TryGetValue(name, out int k))
                {
                    k = names.Count;
                    index.Add(name, k);
                    names.Add(set.Classes[c].Name);
                    ids.Add(set.Classes[c].Id);
                }
                else if (ids[k] != set.Classes[c].Id) idsAgree = false;
                remap[c] = k;
            }
            remaps.Add(remap);
        }
        if (idsAgree && ids.Distinct().Count() != ids.Count) idsAgree = false;
        var classes = names.Select((n, i) => new DataSetClass(n, idsAgree ? ids[i] : i + 1)).ToList();
        var images = new List<DataSetImage>();
        var issues = new List<DataSetIssue>();
        for (int s = 0; s < sets.Count; s++)
        {
            var remap = remaps[s];
            foreach (var image in sets[s].Images)
                images.Add(image with { Objects = image.Objects.Select(o => o with { ClassIndex = remap[o.ClassIndex] }).ToList() });
            issues.AddRange(sets[s].Issues);
        }
        return new DetectionDataSet(string.Join("+", sets.Select(s => s.Source)), classes, images, issues);
    }
}
