using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ssd.Data;
using Ssd.Data.Coco;
using Ssd.Data.Voc;

namespace Ssd.Fuzz;

/// <summary>
/// The data-set readers of Ssd.Data through their public entry points, which read files: the input is written into
/// the scratch folder where the reader expects it (and kept there on purpose). Their documented error is
/// <see cref="DataSetException"/> (a file, a field, a one-line problem).
/// </summary>
public abstract class DataSetTarget : FuzzTarget
{
    public override byte[] Mutate(byte[] seed, Random rng, IReadOnlyList<byte[]> seeds) => Mutators.Text(seed, rng, seeds);

    public override bool IsDocumented(Exception e) => e is DataSetException;

    /// <summary>Writes the input to <paramref name="relative"/> in the scratch folder and reads it; the file is the
    /// target's own, so it is kept on success and removed when the reader throws (anything else left is a finding).</summary>
    protected static IReadOnlyCollection<string> WithInput(string scratch, string relative, byte[] input, Action<string> read)
    {
        var path = Path.Combine(scratch, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, input);
        try { read(path); }
        catch
        {
            File.Delete(path);
            throw;
        }
        return [relative];
    }

    /// <summary>The COCO files of the eval fixtures (tools/fixtures/make_eval_fixtures.py).</summary>
    protected static string EvalFixtures(FuzzContext c) => Path.Combine(c.Fixtures, "generated", "eval");

    /// <summary>A JSON file cut down to its first <paramref name="keep"/> items of each top-level list and indented,
    /// so that the line mutations of <see cref="Mutators.Text"/> reach single fields.</summary>
    protected static byte[] Indented(JsonNode node, int keep)
    {
        static void Cut(JsonArray a, int keep) { while (a.Count > keep) a.RemoveAt(a.Count - 1); }
        if (node is JsonArray list) Cut(list, keep);
        else if (node is JsonObject o)
            foreach (var (_, v) in o.ToList())
                if (v is JsonArray a) Cut(a, keep);
        return Encoding.UTF8.GetBytes(node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
}

/// <summary>VocDataSet.Load over a year folder holding one mutated annotation file.</summary>
public sealed class VocXmlTarget : DataSetTarget
{
    public override string Name => "voc-xml";
    public override string Description => "VocDataSet.Load: PASCAL VOC annotation XML (BCCD's real files, the eval fixture's)";

    public override IReadOnlyList<byte[]> Seeds(FuzzContext c) =>
    [
        .. c.Files(Path.Combine(c.SharedRoot, "datasets", "BCCD", "Annotations"), "*.xml").Take(64),
        .. c.Files(Path.Combine(EvalFixtures(c), "voc", "VOC", "Annotations"), "*.xml").Take(16),
    ];

    public override IReadOnlyCollection<string> Run(byte[] input, string scratch)
    {
        return WithInput(scratch, Path.Combine("VOC", "Annotations", "fuzz.xml"), input, _ =>
        {
            var set = VocDataSet.Load(Path.Combine(scratch, "VOC"));
            if (set.Images.Count != 1) throw new FuzzOracleException($"one annotation file gave {set.Images.Count} images");
        });
    }
}

/// <summary>CocoDataSet.Load on a mutated instances file.</summary>
public sealed class CocoInstancesTarget : DataSetTarget
{
    public override string Name => "coco-instances";
    public override string Description => "CocoDataSet.Load: COCO instances JSON (the eval fixture's, the real BCCD set written by CocoWriter; whole and cut down)";

    public override IReadOnlyList<byte[]> Seeds(FuzzContext c)
    {
        var files = c.Files(Path.Combine(EvalFixtures(c), "coco"), "instances.json").ToList();
        // The real BCCD set (VOC layout) as CocoWriter writes it.
        var bccd = Path.Combine(c.SharedRoot, "datasets", "BCCD");
        if (Directory.Exists(Path.Combine(bccd, "Annotations")))
        {
            var temp = Path.Combine(Path.GetTempPath(), $"ssd-fuzz-bccd-{Environment.ProcessId}.json");
            try
            {
                CocoWriter.Write(VocDataSet.Load(bccd), temp);
                files.Add(File.ReadAllBytes(temp));
            }
            finally { File.Delete(temp); }
        }
        return [.. files, .. files.Select(f => Indented(JsonNode.Parse(f)!, 6))];
    }

    public override IReadOnlyCollection<string> Run(byte[] input, string scratch)
    {
        return WithInput(scratch, "instances.json", input, path =>
        {
            var set = CocoDataSet.Load(path);
            if (set.Images.Any(i => i.Objects.Any(o => (uint)o.ClassIndex >= (uint)set.Classes.Count)))
                throw new FuzzOracleException("an object's class is outside the class list");
        });
    }
}

/// <summary>DetectionFiles.Read (what `ssd eval` reads: a COCO results list, or the JSON of `ssd detect`) on a mutated
/// COCO results file, against the eval fixture's COCO ground truth.</summary>
public sealed class CocoResultsTarget : DataSetTarget
{
    private DetectionDataSet? gt;

    public override string Name => "coco-results";
    public override string Description => "DetectionFiles.Read / CocoResults: COCO results JSON (pycocotools' loadRes format) against the eval fixture's ground truth";

    private static string Dir(FuzzContext c) => Path.Combine(EvalFixtures(c), "coco");

    public override void Prepare(FuzzContext c)
    {
        var instances = Path.Combine(Dir(c), "instances.json");
        if (File.Exists(instances)) gt = CocoDataSet.Load(instances);
    }

    public override IReadOnlyList<byte[]> Seeds(FuzzContext c)
    {
        var results = Path.Combine(Dir(c), "results.json");
        if (gt is null || !File.Exists(results)) return [];
        var bytes = File.ReadAllBytes(results);
        // Also: rows with labels instead of category ids, string image ids (VOC-style), a few rows indented.
        var rows = JsonNode.Parse(bytes)!.AsArray();
        var labelled = new JsonArray();
        foreach (var row in rows.Take(8))
        {
            var copy = row!.DeepClone().AsObject();
            var category = gt.Classes.FirstOrDefault(k => k.Id == copy["category_id"]!.GetValue<long>());
            if (category is not null) copy["label"] = category.Name;
            copy["image_id"] = copy["image_id"]!.ToJsonString();
            labelled.Add(copy);
        }
        return [bytes, Indented(JsonNode.Parse(bytes)!, 12), Indented(labelled, 8)];
    }

    public override IReadOnlyCollection<string> Run(byte[] input, string scratch)
    {
        return WithInput(scratch, "results.json", input, path =>
        {
            var imported = DetectionFiles.Read(path, gt!);
            foreach (var d in imported.Detections)
                if ((uint)d.ImageIndex >= (uint)gt!.Images.Count || (uint)d.ClassIndex >= (uint)gt.Classes.Count || !double.IsFinite(d.Score))
                    throw new FuzzOracleException("a detection names an image or class outside the ground truth, or has a score that is not finite");
        });
    }
}
