namespace Ssd.Data.Metrics;

/// <summary>The detection metrics: PASCAL VOC 2007 (11-point AP), VOC 2010+ (all-point AP), COCO (AP@[.5:.95] etc.).</summary>
public enum MetricKind
{
    /// <summary>PASCAL VOC 2007: 11-point interpolated AP at IoU 0.5.</summary>
    Voc07,
    /// <summary>PASCAL VOC 2010 and later: area under the monotone precision envelope at IoU 0.5.</summary>
    Voc2010,
    /// <summary>COCO: AP averaged over IoU 0.5:0.95, by object size, and AR.</summary>
    Coco,
}

/// <summary>The metrics' names on the command line (voc07, voc2010, coco).</summary>
public static class MetricNames
{
    /// <summary>The name <see cref="Parse"/> reads back.</summary>
    public static string Name(MetricKind m) => m switch { MetricKind.Voc07 => "voc07", MetricKind.Voc2010 => "voc2010", _ => "coco" };

    /// <summary>The metric a name means (also voc2007, voc10, voc2012, voc12); an unknown one is an <see cref="ArgumentException"/>.</summary>
    public static MetricKind Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "voc07" or "voc2007" => MetricKind.Voc07,
        "voc2010" or "voc10" or "voc2012" or "voc12" => MetricKind.Voc2010,
        "coco" => MetricKind.Coco,
        _ => throw new ArgumentException($"unknown metric '{text}': use voc07, voc2010 or coco"),
    };
}

/// <summary>One precision-recall curve: precision at each recall, in recall order.</summary>
public sealed record PrSeries(string Label, double[] Recall, double[] Precision);

/// <summary>
/// A class's result: AP (NaN when the class has no ground truth to find: it is left out of the mean), the number of
/// objects that count (VOC: not difficult; COCO: not crowd), the number of detections scored, and its PR curves.
/// </summary>
public sealed record ClassScore(string Name, double AP, int GroundTruth, int Detections, IReadOnlyList<PrSeries> Curves);

/// <summary>The result of a metric: the headline numbers in their usual order (VOC: mAP; COCO: the 12 COCOeval
/// statistics, -1 where pycocotools gives -1) and one <see cref="ClassScore"/> per data set class.</summary>
public sealed record MetricResult(MetricKind Metric, IReadOnlyList<KeyValuePair<string, double>> Headline, IReadOnlyList<ClassScore> PerClass)
{
    /// <summary>The headline number named <paramref name="key"/> (e.g. "mAP", "AP50").</summary>
    public double this[string key] => Headline.First(h => h.Key == key).Value;
}

/// <summary>Scores detections on a data set with the chosen metric.</summary>
public static class Evaluator
{
    /// <summary>Scores <paramref name="detections"/> on <paramref name="gt"/> with <paramref name="metric"/>'s reference rules.</summary>
    public static MetricResult Evaluate(MetricKind metric, DetectionDataSet gt, IReadOnlyList<DetectionRecord> detections) => metric switch
    {
        MetricKind.Coco => CocoEvaluator.Evaluate(gt, detections).ToResult(),
        _ => VocEvaluator.Evaluate(gt, detections, new VocParameters { Use07Metric = metric == MetricKind.Voc07 }),
    };

    /// <summary>Mean of the values that are not NaN; NaN when there is none.</summary>
    internal static double MeanOfDefined(IEnumerable<double> values)
    {
        double sum = 0;
        int n = 0;
        foreach (var v in values)
            if (!double.IsNaN(v)) { sum += v; n++; }
        return n == 0 ? double.NaN : sum / n;
    }

    /// <summary>Indices 0..n-1 ordered by score, highest first, ties in their original order (a stable sort, as
    /// numpy's mergesort and MATLAB's sort are; -0.0 ties with 0.0). Sorted as integer keys, then each run of equal
    /// scores put back in index order.</summary>
    internal static int[] ByScoreDescending(ReadOnlySpan<double> scores)
    {
        var keys = new ulong[scores.Length];
        var order = new int[scores.Length];
        for (int i = 0; i < order.Length; i++)
        {
            long bits = BitConverter.DoubleToInt64Bits(scores[i] + 0.0);
            ulong ascending = bits >= 0 ? (ulong)bits ^ 0x8000_0000_0000_0000UL : ~(ulong)bits;
            keys[i] = ~ascending;
            order[i] = i;
        }
        Array.Sort(keys, order);
        for (int start = 0; start < keys.Length;)
        {
            int end = start + 1;
            while (end < keys.Length && keys[end] == keys[start]) end++;
            if (end - start > 1) Array.Sort(order, start, end - start);
            start = end;
        }
        return order;
    }
}
