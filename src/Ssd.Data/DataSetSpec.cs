using System.Globalization;
using Ssd.Data.Coco;
using Ssd.Data.Shapes;
using Ssd.Data.Voc;

namespace Ssd.Data;

/// <summary>
/// A data set named in one string, as <c>ssd eval --ground-truth</c> takes it:
/// <list type="bullet">
/// <item><c>voc:VOC_DIR[:SPLIT]</c>: a VOCdevkit year folder (the one with Annotations/) and a split of
/// ImageSets/Main (e.g. <c>test</c>, <c>trainval</c>);</item>
/// <item><c>coco:INSTANCES.json[:IMAGE_DIR]</c>: a COCO instances file and the folder of its images;</item>
/// <item><c>shapes:SEED:COUNT</c>: images 0 .. COUNT - 1 of the synthetic shapes set <see cref="Shapes.ShapesDataSet"/>
/// (generated in memory, no files);</item>
/// <item>several joined with <c>+</c>, each starting with <c>voc:</c>, <c>coco:</c> or <c>shapes:</c>:
/// <c>voc:VOCdevkit/VOC2007:trainval+voc:VOCdevkit/VOC2012:trainval</c> (the images one after the other, the classes
/// united by name).</item>
/// </list>
/// A path may itself hold ':' or '+' when the path exists: the split is taken at the first ':' after which the path
/// before it exists.
/// </summary>
public sealed record DataSetSpec(string Format, string Path, string? Part)
{
    /// <summary>The split used when a VOC spec names none: <c>test</c> when ImageSets/Main/test.txt exists (what
    /// detectors are scored on), else every annotation file.</summary>
    public const string DefaultVocSplit = "test";

    /// <summary>Reads "FORMAT:PATH[:PART]" specs separated by commas or plus signs; a bad one is an <see cref="ArgumentException"/>.</summary>
    public static IReadOnlyList<DataSetSpec> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = new List<string>();
        int start = 0;
        for (int i = 1; i < text.Length; i++)
            if (text[i - 1] == '+' && Formats.Any(f => Rest(text, i).StartsWith(f + ":", StringComparison.OrdinalIgnoreCase)))
            {
                parts.Add(text[start..(i - 1)]);
                start = i;
            }
        parts.Add(text[start..]);
        return parts.Select(ParseOne).ToList();
    }

    private static string Rest(string s, int i) => s[i..];

    private static readonly string[] Formats = ["voc", "coco", "shapes"];

    private static DataSetSpec ParseOne(string text)
    {
        int colon = text.IndexOf(':');
        var format = colon < 0 ? "" : text[..colon].ToLowerInvariant();
        if (!Formats.Contains(format))
            throw new ArgumentException($"'{text}': a data set is voc:VOC_DIR[:SPLIT], coco:INSTANCES.json[:IMAGE_DIR] or shapes:SEED:COUNT");
        var rest = text[(colon + 1)..];
        if (rest.Length == 0) throw new ArgumentException($"'{text}': no path after '{format}:'");
        if (format == "shapes")
        {
            var fields = rest.Split(':');
            if (fields.Length != 2 || !int.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out _))
                throw new ArgumentException($"'{text}': the shapes set is shapes:SEED:COUNT (SEED and COUNT whole numbers, SEED at least 0)");
            if (!int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out int count) || count is < 1 or > ShapesDataSet.MaxCount)
                throw new ArgumentException($"'{text}': COUNT '{fields[1]}' must be a whole number from 1 to {ShapesDataSet.MaxCount}");
            return new DataSetSpec(format, fields[0], fields[1]);
        }
        bool Exists(string p) => format == "voc" ? Directory.Exists(p) : File.Exists(p);
        if (Exists(rest)) return new DataSetSpec(format, rest, null);
        for (int i = rest.IndexOf(':'); i >= 0; i = rest.IndexOf(':', i + 1))
            if (i > 0 && Exists(rest[..i])) return new DataSetSpec(format, rest[..i], rest[(i + 1)..] is { Length: > 0 } part ? part : null);
        // Nothing exists: split at the last ':' for VOC (splits have no ':'), at the first for COCO (the JSON comes first).
        int at = format == "voc" ? rest.LastIndexOf(':') : rest.IndexOf(':');
        return at > 0 ? new DataSetSpec(format, rest[..at], rest[(at + 1)..]) : new DataSetSpec(format, rest, null);
    }

    /// <summary>Loads the set this spec names (throws <see cref="DataSetException"/> on bad input).</summary>
    public DetectionDataSet Load()
    {
        if (Format == "coco") return CocoDataSet.Load(Path, Part);
        if (Format == "shapes") return ShapesDataSet.Create(int.Parse(Path, CultureInfo.InvariantCulture), int.Parse(Part!, CultureInfo.InvariantCulture));
        if (!Directory.Exists(Path)) throw new DataSetException(Path, null, "no such VOC year folder");
        var split = Part;
        if (split is null && File.Exists(System.IO.Path.Combine(Path, "ImageSets", "Main", DefaultVocSplit + ".txt"))) split = DefaultVocSplit;
        return VocDataSet.Load(Path, split);
    }

    /// <summary>Parses and loads a spec string; several sets are combined with <see cref="DetectionDataSet.Combine"/>.</summary>
    public static DetectionDataSet LoadAll(string text) => DetectionDataSet.Combine(Parse(text).Select(s => s.Load()).ToList());

    /// <summary>The spec as <see cref="Parse"/> reads it.</summary>
    public override string ToString() => Part is null ? $"{Format}:{Path}" : $"{Format}:{Path}:{Part}";
}
