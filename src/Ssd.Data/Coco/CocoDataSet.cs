using System.Globalization;
using System.Text.Json;
using Ssd.Data.Json;

namespace Ssd.Data.Coco;

/// <summary>
/// A COCO instances file (<c>instances_val2017.json</c>): <c>images</c> (id, file_name, width, height),
/// <c>categories</c> (id, name; ids need not be contiguous: COCO's 80 run from 1 to 90) and <c>annotations</c>
/// (id, image_id, category_id, bbox [x, y, w, h], area, iscrowd; segmentation is skipped). Images without
/// annotations are kept. Images and categories come out sorted by id, as pycocotools orders them.
/// </summary>
public static class CocoDataSet
{
    /// <summary>
    /// Reads <paramref name="instancesJson"/>; image files are <paramref name="imageDir"/>/file_name (default: the
    /// JSON's folder). A missing <c>area</c> is the box's w x h, a missing <c>iscrowd</c> 0. A degenerate box or one
    /// outside its image (<see cref="BoxChecks"/>) is skipped and listed in <see cref="DetectionDataSet.Issues"/>;
    /// malformed JSON, a missing field, an unknown image or category id, or an id used twice throws
    /// <see cref="DataSetException"/>.
    /// </summary>
    public static DetectionDataSet Load(string instancesJson, string? imageDir = null)
    {
        var file = instancesJson;
        var bytes = JsonFields.ReadFile(file);
        var images = new List<RawImage>();
        var categories = new List<DataSetClass>();
        var annotations = new List<RawAnnotation>();
        bool sawImages = false, sawAnnotations = false, sawCategories = false;
        var r = JsonFields.Reader(bytes);
        JsonFields.Next(ref r, file);
        JsonFields.ReadObject(ref r, file, "(top level)", (ref Utf8JsonReader r, string name) =>
        {
            switch (name)
            {
                case "images": sawImages = true; JsonFields.ReadArray(ref r, file, "images", (ref Utf8JsonReader r, int i) => images.Add(ReadImage(ref r, file, i))); break;
                case "annotations": sawAnnotations = true; JsonFields.ReadArray(ref r, file, "annotations", (ref Utf8JsonReader r, int i) => annotations.Add(ReadAnnotation(ref r, file, i))); break;
                case "categories": sawCategories = true; JsonFields.ReadArray(ref r, file, "categories", (ref Utf8JsonReader r, int i) => categories.Add(ReadCategory(ref r, file, i))); break;
                default: JsonFields.Skip(ref r, file); break;
            }
        });
        if (!sawImages) throw new DataSetException(file, "images", "missing: not a COCO instances file");
        if (!sawCategories) throw new DataSetException(file, "categories", "missing: not a COCO instances file");
        if (!sawAnnotations) throw new DataSetException(file, "annotations", "missing (an empty list is fine): not a COCO instances file");

        var sortedCategories = categories.OrderBy(c => c.Id).ToList();
        var categoryIndex = new Dictionary<long, int>();
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (int c = 0; c < sortedCategories.Count; c++)
        {
            if (!categoryIndex.TryAdd(sortedCategories[c].Id, c))
                throw new DataSetException(file, "categories", $"category id {sortedCategories[c].Id} is used twice");
            if (!names.Add(sortedCategories[c].Name.Trim()))
                throw new DataSetException(file, "categories", $"category name '{sortedCategories[c].Name}' is used twice (names are compared ignoring case)");
        }

        var order = Enumerable.Range(0, images.Count).OrderBy(i => images[i].Id).ToArray();
        var imageIndex = new Dictionary<long, int>(images.Count);
        for (int k = 0; k < order.Length; k++)
            if (!imageIndex.TryAdd(images[order[k]].Id, k))
                throw new DataSetException(file, $"images[{order[k]}].id", $"image id {images[order[k]].Id} is used twice");

        var objects = new List<GroundTruthObject>[images.Count];
        for (int k = 0; k < objects.Length; k++) objects[k] = [];
        var issues = new List<DataSetIssue>();
        var annotationIds = new HashSet<long>();
        for (int a = 0; a < annotations.Count; a++)
        {
            var ann = annotations[a];
            string field = $"annotations[{a}]";
            if (!annotationIds.Add(ann.Id)) throw new DataSetException(file, field + ".id", $"annotation id {ann.Id} is used twice");
            if (!imageIndex.TryGetValue(ann.ImageId, out int k))
                throw new DataSetException(file, field + ".image_id", $"no image has id {ann.ImageId}");
            if (!categoryIndex.TryGetValue(ann.CategoryId, out int c))
                throw new DataSetException(file, field + ".category_id", $"unknown class: no category has id {ann.CategoryId}");
            var image = images[order[k]];
            if (BoxChecks.Problem(ann.Box, image.Width, image.Height) is { } problem)
            {
                issues.Add(new DataSetIssue(file, field + ".bbox", problem));
                continue;
            }
            if (ann.Id == 0)
                issues.Add(new DataSetIssue(file, field + ".id", "annotation id 0: pycocotools (and so Ssd's COCO metric) counts a detection matched to it as a false positive"));
            objects[k].Add(new GroundTruthObject(c, ann.Box)
            {
                IsCrowd = ann.IsCrowd, Area = ann.Area ?? ann.Box.Width * ann.Box.Height, Id = ann.Id,
            });
        }

        var dir = imageDir ?? Path.GetDirectoryName(Path.GetFullPath(file))!;
        var result = new List<DataSetImage>(images.Count);
        for (int k = 0; k < order.Length; k++)
        {
            var image = images[order[k]];
            result.Add(new DataSetImage(image.Id.ToString(CultureInfo.InvariantCulture), Path.Combine(dir, image.FileName), objects[k])
            {
                CocoId = image.Id, Width = image.Width, Height = image.Height, PixelOrigin = 0,
            });
        }
        var source = imageDir is null ? $"coco:{instancesJson}" : $"coco:{instancesJson}:{imageDir}";
        return new DetectionDataSet(source, sortedCategories, result, issues);
    }

    private sealed record RawImage(long Id, string FileName, int? Width, int? Height);
    private sealed record RawAnnotation(long Id, long ImageId, long CategoryId, PixelBox Box, double? Area, bool IsCrowd);

    private static RawImage ReadImage(ref Utf8JsonReader r, string file, int i)
    {
        string field = $"images[{i}]";
        long? id = null;
        string? fileName = null;
        int? width = null, height = null;
        JsonFields.ReadObject(ref r, file, field, (ref Utf8JsonReader r, string name) =>
        {
            switch (name)
            {
                case "id": id = JsonFields.Integer(ref r, file, field + ".id"); break;
                case "file_name": fileName = JsonFields.String(ref r, file, field + ".file_name"); break;
                case "width": width = Size(ref r, file, field + ".width"); break;
                case "height": height = Size(ref r, file, field + ".height"); break;
                default: JsonFields.Skip(ref r, file); break;
            }
        });
        if (id is null) throw new DataSetException(file, field + ".id", "missing");
        if (fileName is null) throw new DataSetException(file, field + ".file_name", "missing");
        if (fileName.Length == 0 || Path.IsPathRooted(fileName) || fileName.Split('/', '\\').Contains(".."))
            throw new DataSetException(file, field + ".file_name", $"'{fileName}' is not a file name inside the image folder");
        return new RawImage(id.Value, fileName, width, height);
    }

    private static int? Size(ref Utf8JsonReader r, string file, string field)
    {
        long v = JsonFields.Integer(ref r, file, field);
        if (v < 0 || v > int.MaxValue) throw new DataSetException(file, field, $"{v} is not a pixel count");
        return v == 0 ? null : (int)v;
    }

    private static DataSetClass ReadCategory(ref Utf8JsonReader r, string file, int i)
    {
        string field = $"categories[{i}]";
        long? id = null;
        string? name = null;
        JsonFields.ReadObject(ref r, file, field, (ref Utf8JsonReader r, string key) =>
        {
            switch (key)
            {
                case "id": id = JsonFields.Integer(ref r, file, field + ".id"); break;
                case "name": name = JsonFields.String(ref r, file, field + ".name"); break;
                default: JsonFields.Skip(ref r, file); break;
            }
        });
        if (id is null) throw new DataSetException(file, field + ".id", "missing");
        if (string.IsNullOrWhiteSpace(name)) throw new DataSetException(file, field + ".name", "missing or empty");
        return new DataSetClass(name, id.Value);
    }

    private static RawAnnotation ReadAnnotation(ref Utf8JsonReader r, string file, int i)
    {
        string field = $"annotations[{i}]";
        long? id = null, imageId = null, categoryId = null;
        (double X, double Y, double W, double H)? box = null;
        double? area = null;
        bool crowd = false;
        JsonFields.ReadObject(ref r, file, field, (ref Utf8JsonReader r, string name) =>
        {
            switch (name)
            {
                case "id": id = JsonFields.Integer(ref r, file, field + ".id"); break;
                case "image_id": imageId = JsonFields.Integer(ref r, file, field + ".image_id"); break;
                case "category_id": categoryId = JsonFields.Integer(ref r, file, field + ".category_id"); break;
                case "bbox": box = JsonFields.Four(ref r, file, field + ".bbox"); break;
                case "area": area = JsonFields.Number(ref r, file, field + ".area"); break;
                case "iscrowd": crowd = JsonFields.Flag(ref r, file, field + ".iscrowd"); break;
                default: JsonFields.Skip(ref r, file); break;
            }
        });
        if (id is null) throw new DataSetException(file, field + ".id", "missing");
        if (imageId is null) throw new DataSetException(file, field + ".image_id", "missing");
        if (categoryId is null) throw new DataSetException(file, field + ".category_id", "missing");
        if (box is not { } b) throw new DataSetException(file, field + ".bbox", "missing");
        return new RawAnnotation(id.Value, imageId.Value, categoryId.Value, PixelBox.FromXywh(b.X, b.Y, b.W, b.H), area, crowd);
    }
}
