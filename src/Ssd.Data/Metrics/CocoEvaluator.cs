namespace Ssd.Data.Metrics;

/// <summary>COCOeval's parameters for boxes (pycocotools <c>Params.setDetParams</c>).</summary>
public sealed record CocoParameters
{
    /// <summary>0.50:0.05:0.95, computed as numpy's linspace computes it (0.8999999999999999, not 0.9).</summary>
    public double[] IouThresholds { get; init; } = Linspace(0.5, 0.95, 10);

    /// <summary>0:0.01:1, 101 recall points (numpy linspace).</summary>
    public double[] RecallThresholds { get; init; } = Linspace(0.0, 1.0, 101);

    /// <summary>Detections kept per image and category, ascending; the last one is the one matched.</summary>
    public int[] MaxDetections { get; init; } = [1, 10, 100];

    /// <summary>all, small (area &lt;= 32²), medium (32² to 96²), large; both bounds inclusive, as in pycocotools.</summary>
    public AreaRange[] AreaRanges { get; init; } =
        [new("all", 0, 1e10), new("small", 0, 32 * 32), new("medium", 32 * 32, 96 * 96), new("large", 96 * 96, 1e10)];

    /// <summary>numpy.linspace(start, stop, num): i * ((stop - start) / (num - 1)) + start, the last value stop.</summary>
    public static double[] Linspace(double start, double stop, int num)
    {
        var y = new double[num];
        double step = (stop - start) / (num - 1);
        for (int i = 0; i < num; i++) y[i] = i * step + start;
        y[num - 1] = stop;
        return y;
    }
}

/// <summary>A COCO object size range: areas in [Min, Max] pixels.</summary>
/// <param name="Label">all, small, medium or large.</param>
/// <param name="Min">The smallest area.</param>
/// <param name="Max">The largest area.</param>
public sealed record AreaRange(string Label, double Min, double Max);

/// <summary>
/// pycocotools' COCOeval for boxes, computed the same way step by step so that every statistic equals its own:
/// per (image, category) the detections sorted by score (stable) and cut at the largest maxDets; IoU of boxes with
/// crowd regions scored as intersection over the detection's area; ground truth outside the area range or crowd
/// ignored (sorted last), each detection matched greedily in score order to the best remaining ground truth at each
/// IoU threshold (a crowd region may take many; a match to an ignored one is ignored; an unmatched detection outside
/// the area range is ignored); then per category, area range and maxDets the detections of all images merged in score
/// order (stable, images in data set order), precision made monotone and read at the 101 recall points. Categories
/// without ground truth are -1 and left out of the means. Ssd's data sets count VOC's difficult objects as crowd here.
/// </summary>
public sealed class CocoEvaluator
{
    private CocoEvaluator(CocoParameters p, DetectionDataSet gt, double[] precision, double[] recall, int[] gtCounts, int[] dtCounts)
    {
        Parameters = p; GroundTruth = gt; Precision = precision; Recall = recall; groundTruthCounts = gtCounts; detectionCounts = dtCounts;
        Stats = Summarize();
    }

    private readonly int[] groundTruthCounts, detectionCounts;

    /// <summary>The evaluation's parameters (IoU and recall thresholds, area ranges, max detections).</summary>
    public CocoParameters Parameters { get; }

    /// <summary>The ground truth evaluated against.</summary>
    public DetectionDataSet GroundTruth { get; }

    /// <summary>COCOeval.eval['precision']: [T, R, K, A, M] in C order, -1 where a category has no ground truth.</summary>
    public double[] Precision { get; }

    /// <summary>COCOeval.eval['recall']: [T, K, A, M] in C order.</summary>
    public double[] Recall { get; }

    /// <summary>COCOeval.stats: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl.</summary>
    public double[] Stats { get; }

    /// <summary>The names of <see cref="Stats"/>, in order.</summary>
    public static readonly string[] StatNames = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"];

    private int T => Parameters.IouThresholds.Length;
    private int R => Parameters.RecallThresholds.Length;
    private int K => GroundTruth.Classes.Count;
    private int A => Parameters.AreaRanges.Length;
    private int M => Parameters.MaxDetections.Length;

    /// <summary>Precision at IoU threshold t, recall point r, class k, area range a, max detections m.</summary>
    public double PrecisionAt(int t, int r, int k, int a, int m) => Precision[(((t * R + r) * K + k) * A + a) * M + m];
    /// <summary>Recall at IoU threshold t, class k, area range a, max detections m.</summary>
    public double RecallAt(int t, int k, int a, int m) => Recall[((t * K + k) * A + a) * M + m];

    /// <summary>Scores <paramref name="detections"/> on <paramref name="gt"/> as COCOeval does (default parameters: COCOeval's for boxes).</summary>
    public static CocoEvaluator Evaluate(DetectionDataSet gt, IReadOnlyList<DetectionRecord> detections, CocoParameters? parameters = null)
    {
        var p = parameters ?? new CocoParameters();
        if (p.MaxDetections.Length == 0 || p.MaxDetections.Zip(p.MaxDetections.Skip(1)).Any(x => x.First > x.Second))
            throw new ArgumentException("MaxDetections must be ascending and not empty");
        int I = gt.Images.Count, K = gt.Classes.Count, T = p.IouThresholds.Length, R = p.RecallThresholds.Length;
        int A = p.AreaRanges.Length, M = p.MaxDetections.Length;
        var dets = detections as DetectionRecord[] ?? detections.ToArray();
        foreach (var d in dets)
        {
            if ((uint)d.ImageIndex >= (uint)I) throw new ArgumentException($"detection on image {d.ImageIndex}: the data set has {I} images");
            if ((uint)d.ClassIndex >= (uint)K) throw new ArgumentException($"detection of class {d.ClassIndex}: the data set has {K} classes");
            if (!double.IsFinite(d.Score) || !d.Box.IsFinite) throw new ArgumentException($"detection on image {d.ImageIndex}: score or box not finite");
        }

        // Per class: its ground truth (image order, file order) and its detections (image order, then input order,
        // by two stable counting sorts).
        var gtByClass = new List<(int Image, GroundTruthObject Object)>[K];
        for (int k = 0; k < K; k++) gtByClass[k] = [];
        for (int i = 0; i < I; i++)
            foreach (var o in gt.Images[i].Objects) gtByClass[o.ClassIndex].Add((i, o));
        var byImage = CountingSort(Enumerable.Range(0, dets.Length).ToArray(), n => dets[n].ImageIndex, I, out _);
        var byClass = CountingSort(byImage, n => dets[n].ClassIndex, K, out var classStart);

        var precision = new double[T * R * K * A * M];
        var recall = new double[T * K * A * M];
        Array.Fill(precision, -1.0);
        Array.Fill(recall, -1.0);
        var gtCounts = new int[K];
        var dtCounts = new int[K];
        Parallel.For(0, K, k =>
        {
            var classDets = new ArraySegment<int>(byClass, classStart[k], classStart[k + 1] - classStart[k]);
            gtCounts[k] = gtByClass[k].Count(g => !g.Object.IsCrowd && !g.Object.Difficult);
            dtCounts[k] = classDets.Count;
            var images = EvaluateClass(gt, dets, gtByClass[k], classDets, p);
            Accumulate(images, k, p, K, precision, recall);
        });
        return new CocoEvaluator(p, gt, precision, recall, gtCounts, dtCounts);
    }

    /// <summary>A stable counting sort of <paramref name="items"/> by a key in 0..keys-1; start[k] is where key k begins.</summary>
    private static int[] CountingSort(int[] items, Func<int, int> key, int keys, out int[] start)
    {
        start = new int[keys + 1];
        foreach (int n in items) start[key(n) + 1]++;
        for (int k = 0; k < keys; k++) start[k + 1] += start[k];
        var next = (int[])start.Clone();
        var sorted = new int[items.Length];
        foreach (int n in items) sorted[next[key(n)]++] = n;
        return sorted;
    }

    /// <summary>evaluateImg for one (image, category) at every area range: what accumulate needs of it.</summary>
    private sealed class ImageResult
    {
        public required double[] Scores;       // the kept detections' scores, highest first (D of them)
        public required byte[] Outcome;        // [d, area, t]: 1 true positive, 2 false positive, 0 ignored
        public required int[] NotIgnored;      // [area]: ground truth objects that count
    }

    private static List<ImageResult> EvaluateClass(DetectionDataSet gt, DetectionRecord[] detections,
        List<(int Image, GroundTruthObject Object)> gts, ArraySegment<int> dts, CocoParameters p)
    {
        int T = p.IouThresholds.Length, A = p.AreaRanges.Length, maxDet = p.MaxDetections[^1], AT = A * T;
        var thresholds = p.IouThresholds.Select(t => Math.Min(t, 1 - 1e-10)).ToArray();
        var results = new List<ImageResult>();
        int gi = 0, di = 0;
        // Buffers reused from image to image.
        var g = new List<GroundTruthObject>();
        var d = new List<int>();
        var order = new List<int>();
        var boxes = new List<PixelBox>();
        double[] iou = [];
        int[] gtOrder = [];
        bool[] gtIgnore = [], gtMatched = [], crowd = [];
        while (gi < gts.Count || di < dts.Count)
        {
            int image = Math.Min(gi < gts.Count ? gts[gi].Image : int.MaxValue, di < dts.Count ? detections[dts[di]].ImageIndex : int.MaxValue);
            g.Clear(); d.Clear();
            while (gi < gts.Count && gts[gi].Image == image) g.Add(gts[gi++].Object);
            while (di < dts.Count && detections[dts[di]].ImageIndex == image) d.Add(dts[di++]);
            double origin = gt.Images[image].PixelOrigin;

            // computeIoU: detections by score (stable), cut at maxDets[-1]; IoU [D x G] with ground truth in file order.
            StableByScore(detections, d, order);
            int D = Math.Min(d.Count, maxDet), G = g.Count;
            var scores = new double[D];
            boxes.Clear();
            for (int n = 0; n < D; n++) { var det = detections[d[order[n]]]; boxes.Add(det.Box.Offset(origin)); scores[n] = det.Score; }
            Grow(ref crowd, G); Grow(ref gtOrder, G); Grow(ref gtIgnore, G); Grow(ref gtMatched, T * G); Grow(ref iou, D * G);
            for (int j = 0; j < G; j++) crowd[j] = g[j].IsCrowd || g[j].Difficult;
            for (int n = 0; n < D; n++)
                for (int j = 0; j < G; j++) iou[n * G + j] = BoxIou(boxes[n], g[j].Box, crowd[j]);

            var outcome = new byte[D * AT];
            var notIgnored = new int[A];
            for (int a = 0; a < A; a++)
            {
                var range = p.AreaRanges[a];
                // Ground truth ignored (crowd, or outside the area range) goes last, otherwise in file order.
                int next = 0;
                for (int pass = 0; pass < 2; pass++)
                    for (int j = 0; j < G; j++)
                    {
                        bool ignore = crowd[j] || g[j].Area < range.Min || g[j].Area > range.Max;
                        if (ignore == (pass == 1)) { gtOrder[next] = j; gtIgnore[next] = ignore; next++; }
                    }
                for (int j = 0; j < G; j++) if (!gtIgnore[j]) notIgnored[a]++;
                Array.Clear(gtMatched, 0, T * G);
                for (int t = 0; t < T; t++)
                {
                    for (int n = 0; n < D; n++)
                    {
                        double best = thresholds[t];
                        int m = -1;
                        for (int j = 0; j < G; j++)
                        {
                            if (gtMatched[t * G + j] && !crowd[gtOrder[j]]) continue;
                            if (m > -1 && !gtIgnore[m] && gtIgnore[j]) break;
                            double v = iou[n * G + gtOrder[j]];
                            if (v < best) continue;
                            best = v;
                            m = j;
                        }
                        bool ignored = false, matched = false;
                        if (m != -1)
                        {
                            ignored = gtIgnore[m];
                            matched = g[gtOrder[m]].Id != 0; // pycocotools stores the matched id; id 0 reads as "unmatched"
                            gtMatched[t * G + m] = true;
                        }
                        if (!matched)
                        {
                            double area = boxes[n].Area;
                            if (area < range.Min || area > range.Max) ignored = true;
                        }
                        outcome[n * AT + a * T + t] = ignored ? (byte)0 : matched ? (byte)1 : (byte)2;
                    }
                }
            }
            results.Add(new ImageResult { Scores = scores, Outcome = outcome, NotIgnored = notIgnored });
        }
        return results;
    }

    private static void Grow<T>(ref T[] buffer, int size)
    {
        if (buffer.Length < size) buffer = new T[Math.Max(size, buffer.Length * 2)];
    }

    /// <summary>Positions in <paramref name="d"/> by score, highest first, ties in input order (insertion sort: a few per image).</summary>
    private static void StableByScore(DetectionRecord[] detections, List<int> d, List<int> order)
    {
        order.Clear();
        if (d.Count > 64)
        {
            var scores = new double[d.Count];
            for (int n = 0; n < d.Count; n++) scores[n] = detections[d[n]].Score;
            order.AddRange(Evaluator.ByScoreDescending(scores));
            return;
        }
        for (int n = 0; n < d.Count; n++)
        {
            double score = detections[d[n]].Score;
            int at = order.Count;
            while (at > 0 && detections[d[order[at - 1]]].Score < score) at--;
            order.Insert(at, n);
        }
    }

    /// <summary>maskApi.c bbIou: boxes as x, y, w, h; a crowd region's IoU is the intersection over the detection's area.</summary>
    internal static double BoxIou(PixelBox dt, PixelBox gt, bool crowd)
    {
        double ga = gt.Width * gt.Height, da = dt.Width * dt.Height;
        double w = Math.Min(dt.Width + dt.X1, gt.Width + gt.X1) - Math.Max(dt.X1, gt.X1);
        if (w <= 0) return 0;
        double h = Math.Min(dt.Height + dt.Y1, gt.Height + gt.Y1) - Math.Max(dt.Y1, gt.Y1);
        if (h <= 0) return 0;
        double i = w * h;
        double u = crowd ? da : da + ga - i;
        return i / u;
    }

    /// <summary>
    /// COCOeval.accumulate for one category. Per maxDets, the first maxDets detections of each image are merged by
    /// score (stable: image order, then rank), then one pass in that order counts, for every (area, threshold) row at
    /// once, pycocotools' tp and fp and keeps pr = tp / (fp + tp + eps) at each true positive. rc = tp / npig changes
    /// only at true positives, so the first index whose rc reaches a recall threshold (numpy searchsorted, side
    /// 'left') is the true positive that brings tp to the smallest count c with c / npig &gt;= it (index 0 for c = 0),
    /// and pr made non-increasing from the right is there the maximum of pr over that and the later true positives
    /// (between true positives pr only falls). The same divisions and comparisons as pycocotools, so the same numbers.
    /// </summary>
    private static void Accumulate(List<ImageResult> images, int k, CocoParameters p, int K, double[] precision, double[] recall)
    {
        if (images.Count == 0) return;
        const double Spacing1 = 2.220446049250313e-16; // np.spacing(1)
        int T = p.IouThresholds.Length, R = p.RecallThresholds.Length, A = p.AreaRanges.Length, M = p.MaxDetections.Length, AT = A * T;
        int total = images.Sum(e => e.Scores.Length);
        var image = new int[total];
        var rank = new int[total];
        var scores = new double[total];
        var npig = new int[A];
        foreach (var e in images)
            for (int a = 0; a < A; a++) npig[a] += e.NotIgnored[a];
        var tp = new double[AT];
        var fp = new double[AT];
        var count = new int[AT];
        var tpPrecision = new double[AT * (total + 1)]; // row r: [r * (total + 1) + c], c = 1..count[r]
        int stride = total + 1;
        for (int m = 0; m < M; m++)
        {
            int maxDet = p.MaxDetections[m];
            int n = 0;
            for (int e = 0; e < images.Count; e++)
                for (int d = 0; d < Math.Min(maxDet, images[e].Scores.Length); d++) { image[n] = e; rank[n] = d; scores[n] = images[e].Scores[d]; n++; }
            var order = Evaluator.ByScoreDescending(scores.AsSpan(0, n));
            Array.Clear(tp); Array.Clear(fp); Array.Clear(count);
            for (int j = 0; j < n; j++)
            {
                var img = images[image[order[j]]];
                var outcome = img.Outcome.AsSpan(rank[order[j]] * AT, AT);
                for (int r = 0; r < AT; r++)
                {
                    byte f = outcome[r];
                    if (f == 2) fp[r]++;
                    else if (f == 1)
                    {
                        tp[r]++;
                        tpPrecision[r * stride + ++count[r]] = tp[r] / (fp[r] + tp[r] + Spacing1);
                    }
                }
            }
            for (int a = 0; a < A; a++)
            {
                if (npig[a] == 0) continue;
                for (int t = 0; t < T; t++)
                {
                    int r = a * T + t, c = count[r];
                    recall[((t * K + k) * A + a) * M + m] = n > 0 ? tp[r] / npig[a] : 0;
                    var row = tpPrecision.AsSpan(r * stride, c + 1);
                    row[0] = 0; // index 0 when it is not a true positive: tp = 0 there, so pr = 0
                    for (int i = c - 1; i >= 0; i--) row[i] = Math.Max(row[i], row[i + 1]);
                    int needed = 0;
                    for (int ri = 0; ri < R; ri++)
                    {
                        double thr = p.RecallThresholds[ri];
                        while (needed <= c && needed / (double)npig[a] < thr) needed++;
                        precision[(((t * R + ri) * K + k) * A + a) * M + m] = n > 0 && needed <= c ? row[needed] : 0;
                    }
                }
            }
        }
    }

    private int AreaIndex(string label) => Array.FindIndex(Parameters.AreaRanges, r => r.Label == label);
    private int MaxDetIndex(int maxDets) => Array.IndexOf(Parameters.MaxDetections, maxDets);

    /// <summary>COCOeval._summarize: the mean of the entries that are not -1, or -1.</summary>
    public double Summarize(bool ap, double? iouThreshold = null, string area = "all", int maxDets = 100)
    {
        int a = AreaIndex(area), m = MaxDetIndex(maxDets);
        if (a < 0 || m < 0) return -1;
        double sum = 0;
        long n = 0;
        for (int t = 0; t < T; t++)
        {
            if (iouThreshold is double thr && Parameters.IouThresholds[t] != thr) continue;
            // The order of numpy's flattening: precision [T, R, K], recall [T, K].
            if (ap)
                for (int r = 0; r < R; r++)
                    for (int k = 0; k < K; k++)
                    {
                        double v = PrecisionAt(t, r, k, a, m);
                        if (v > -1) { sum += v; n++; }
                    }
            else
                for (int k = 0; k < K; k++)
                {
                    double v = RecallAt(t, k, a, m);
                    if (v > -1) { sum += v; n++; }
                }
        }
        return n == 0 ? -1 : sum / n;
    }

    private double[] Summarize()
    {
        var md = Parameters.MaxDetections;
        int last = md[^1];
        int At(int i) => i < md.Length ? md[i] : last;
        return
        [
            Summarize(true), Summarize(true, 0.5, maxDets: At(2)), Summarize(true, 0.75, maxDets: At(2)),
            Summarize(true, area: "small", maxDets: At(2)), Summarize(true, area: "medium", maxDets: At(2)), Summarize(true, area: "large", maxDets: At(2)),
            Summarize(false, maxDets: At(0)), Summarize(false, maxDets: At(1)), Summarize(false, maxDets: At(2)),
            Summarize(false, area: "small", maxDets: At(2)), Summarize(false, area: "medium", maxDets: At(2)), Summarize(false, area: "large", maxDets: At(2)),
        ];
    }

    /// <summary>A category's AP as detectron2 and mmdetection report it: the mean of precision[:, :, k, all, last]
    /// over the entries that are not -1 (at one IoU threshold when given, e.g. 0.5 for AP50); NaN when the category
    /// has no ground truth.</summary>
    public double ClassAP(int k, double? iouThreshold = null)
    {
        int a = AreaIndex("all"), m = M - 1;
        double sum = 0;
        long n = 0;
        for (int t = 0; t < T; t++)
            if (iouThreshold is not double thr || Parameters.IouThresholds[t] == thr)
            for (int r = 0; r < R; r++)
            {
                double v = PrecisionAt(t, r, k, a, m);
                if (v > -1) { sum += v; n++; }
            }
        return n == 0 ? double.NaN : sum / n;
    }

    /// <summary>The 12 statistics and per-class AP as a <see cref="MetricResult"/>.</summary>
    public MetricResult ToResult()
    {
        var headline = StatNames.Select((name, i) => new KeyValuePair<string, double>(name, Stats[i])).ToList();
        int a = AreaIndex("all"), m = M - 1;
        var perClass = new List<ClassScore>(K);
        for (int k = 0; k < K; k++)
        {
            var curves = new List<PrSeries>();
            if (PrecisionAt(0, 0, k, a, m) > -1)
            {
                foreach (var (label, thr) in new[] { ("IoU 0.50", 0.5), ("IoU 0.75", 0.75) })
                {
                    int t = Array.IndexOf(Parameters.IouThresholds, thr);
                    if (t >= 0) curves.Add(new PrSeries(label, Parameters.RecallThresholds, Enumerable.Range(0, R).Select(r => PrecisionAt(t, r, k, a, m)).ToArray()));
                }
                curves.Add(new PrSeries("IoU 0.50:0.95 (mean)", Parameters.RecallThresholds,
                    Enumerable.Range(0, R).Select(r => Enumerable.Range(0, T).Average(t => PrecisionAt(t, r, k, a, m))).ToArray()));
            }
            perClass.Add(new ClassScore(GroundTruth.Classes[k].Name, ClassAP(k), groundTruthCounts[k], detectionCounts[k], curves));
        }
        return new MetricResult(MetricKind.Coco, headline, perClass);
    }
}
