using System.Globalization;
using System.Text;
using System.Text.Json;
using Ssd.Data.Metrics;

namespace Ssd.Cli.Evaluation;

/// <summary>What `ssd eval` prints and writes: the per-class table, the headline numbers, and the --json file.</summary>
internal static class EvalReport
{
    private static string F(double v) => double.IsNaN(v) ? "     -" : v.ToString("0.0000", CultureInfo.InvariantCulture).PadLeft(6);

    /// <summary>The per-class AP table, then the headline: mAP for VOC, pycocotools' 12 summary lines for COCO.</summary>
    public static string Text(MetricResult result, CocoEvaluator? coco)
    {
        var sb = new StringBuilder();
        int width = Math.Max(5, result.PerClass.Count == 0 ? 5 : result.PerClass.Max(c => c.Name.Length));
        bool isCoco = result.Metric == MetricKind.Coco;
        sb.Append("class".PadRight(width)).Append(isCoco ? "      AP    AP50" : "      AP").AppendLine("      GT    dets");
        for (int k = 0; k < result.PerClass.Count; k++)
        {
            var c = result.PerClass[k];
            sb.Append(c.Name.PadRight(width)).Append("  ").Append(F(c.AP));
            if (isCoco) sb.Append("  ").Append(F(coco!.ClassAP(k, 0.5)));
            sb.Append(FormattableString.Invariant($"  {c.GroundTruth,6}  {c.Detections,6}")).AppendLine();
        }
        if (isCoco)
        {
            sb.AppendLine();
            foreach (var line in CocoSummaryLines(coco!)) sb.AppendLine(line);
        }
        else
        {
            int defined = result.PerClass.Count(c => !double.IsNaN(c.AP));
            sb.AppendLine(FormattableString.Invariant(
                $"mAP ({MetricNames.Name(result.Metric)}, {(result.Metric == MetricKind.Voc07 ? "11-point" : "all-point")}, IoU > 0.5, {defined} classes): {result["mAP"]:0.0000}"));
        }
        return sb.ToString();
    }

    /// <summary>The lines COCOeval.summarize() prints, in its format.</summary>
    public static IEnumerable<string> CocoSummaryLines(CocoEvaluator coco)
    {
        var p = coco.Parameters;
        var md = p.MaxDetections;
        int At(int i) => i < md.Length ? md[i] : md[^1];
        string iouAll = FormattableString.Invariant($"{p.IouThresholds[0]:0.00}:{p.IouThresholds[^1]:0.00}");
        var rows = new (bool Ap, string Iou, string Area, int MaxDets)[]
        {
            (true, iouAll, "all", At(2)), (true, "0.50", "all", At(2)), (true, "0.75", "all", At(2)),
            (true, iouAll, "small", At(2)), (true, iouAll, "medium", At(2)), (true, iouAll, "large", At(2)),
            (false, iouAll, "all", At(0)), (false, iouAll, "all", At(1)), (false, iouAll, "all", At(2)),
            (false, iouAll, "small", At(2)), (false, iouAll, "medium", At(2)), (false, iouAll, "large", At(2)),
        };
        for (int i = 0; i < rows.Length; i++)
        {
            var (ap, iou, area, maxDets) = rows[i];
            yield return FormattableString.Invariant(
                $" {(ap ? "Average Precision" : "Average Recall"),-18} {(ap ? "(AP)" : "(AR)")} @[ IoU={iou,-9} | area={area,6} | maxDets={maxDets,3} ] = {coco.Stats[i]:0.000}");
        }
    }

    /// <summary>
    /// The --json schema: COCO: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl and per_class
    /// {name: {"AP"}}; VOC: mAP and per_class {name: {"AP"}}. Class names as the ground truth spells them; an AP that
    /// is not defined (a class without ground truth) is null.
    /// </summary>
    public static string Json(MetricResult result)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            foreach (var (key, value) in result.Headline) Number(w, key, value);
            w.WriteStartObject("per_class");
            foreach (var c in result.PerClass)
            {
                w.WriteStartObject(c.Name);
                Number(w, "AP", c.AP);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    /// <summary>A number, or null where it is not finite (an AP that is not defined).</summary>
    internal static void Number(Utf8JsonWriter w, string key, double value)
    {
        if (double.IsFinite(value)) w.WriteNumber(key, value);
        else w.WriteNull(key);
    }
}
