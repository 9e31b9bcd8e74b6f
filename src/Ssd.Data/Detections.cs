using System.Globalization;

namespace Ssd.Data;

/// <summary>
/// One detection to score: the image (an index into <see cref="DetectionDataSet.Images"/>), the class (an index into
/// <see cref="DetectionDataSet.Classes"/>), the score and the box in image pixels counted from 0, as a detector
/// reports it (the metrics move it by the image's <see cref="DataSetImage.PixelOrigin"/>). Detection files hold the
/// same numbers: a COCO results file's bbox is [x, y, w, h] of this box.
/// </summary>
public readonly record struct DetectionRecord(int ImageIndex, int ClassIndex, double Score, PixelBox Box);

/// <summary>Detections read from a file, with what was left out and why (images or classes the ground truth lacks).</summary>
public sealed record ImportedDetections(IReadOnlyList<DetectionRecord> Detections, IReadOnlyList<string> Warnings);

/// <summary>
/// Finds a data set's image from how a detection file names it: the image id (a VOC id, a COCO id), the file name,
/// the file stem, or the stem's number (COCO's 000000397133.jpg is image 397133). A name that fits two images is
/// ambiguous and fits none.
/// </summary>
public sealed class ImageLookup
{
    private const int Ambiguous = -2;
    private readonly Dictionary<string, int> byKey = new(StringComparer.Ordinal);
    private readonly Dictionary<long, int> byNumber = [];

    /// <summary>An index of <paramref name="set"/>'s images by id, file name and COCO id.</summary>
    public ImageLookup(DetectionDataSet set)
    {
        for (int i = 0; i < set.Images.Count; i++)
        {
            var image = set.Images[i];
            var keys = new HashSet<string>(StringComparer.Ordinal) { image.Id };
            if (image.CocoId is long id) keys.Add(id.ToString(CultureInfo.InvariantCulture));
            if (image.FilePath.Length > 0)
            {
                keys.Add(image.FileName);
                var stem = Path.GetFileNameWithoutExtension(image.FilePath);
                keys.Add(stem);
                if (stem.Length is > 0 and <= 18 && stem.All(char.IsAsciiDigit))
                    keys.Add(long.Parse(stem, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture));
            }
            foreach (var key in keys)
                byKey[key] = byKey.TryGetValue(key, out int other) && other != i ? Ambiguous : i;
        }
        foreach (var (key, i) in byKey)
            if (key.Length is > 0 and <= 18 && key.All(char.IsAsciiDigit) && key == long.Parse(key, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture))
                byNumber[long.Parse(key, CultureInfo.InvariantCulture)] = i;
    }

    /// <summary>The image a numeric id names (a COCO id, or the number of a numeric file stem), or -1.</summary>
    public int Find(long number) => byNumber.TryGetValue(number, out int i) && i >= 0 ? i : -1;

    /// <summary>The image's index, or -1 when no image (or more than one) has this id or name.</summary>
    public int Find(string key)
    {
        if (byKey.TryGetValue(key, out int i) || byKey.TryGetValue(Path.GetFileName(key), out i)) return i >= 0 ? i : -1;
        return -1;
    }

    /// <summary>True when the key names several images (a combined set whose parts reuse ids).</summary>
    public bool IsAmbiguous(string key) =>
        byKey.TryGetValue(key, out int i) && i == Ambiguous || byKey.TryGetValue(Path.GetFileName(key), out i) && i == Ambiguous;
}

/// <summary>Counts what a detection import leaves out, for one warning line per kind.</summary>
internal sealed class SkipCounter
{
    private readonly Dictionary<string, int> counts = new(StringComparer.Ordinal);
    private readonly List<string> order = [];

    public void Add(string what)
    {
        if (counts.TryGetValue(what, out int n)) counts[what] = n + 1;
        else { counts[what] = 1; order.Add(what); }
    }

    public List<string> Warnings(string file, string kind)
    {
        if (order.Count == 0) return [];
        int total = counts.Values.Sum();
        var shown = string.Join(", ", order.Take(8).Select(k => $"{k} ({counts[k]})"));
        if (order.Count > 8) shown += $", and {order.Count - 8} more";
        return [$"{file}: {total} detections left out: {kind} not in the ground truth: {shown}"];
    }
}
