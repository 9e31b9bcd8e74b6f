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

    public CocoParameters Parameters { get; }
    public DetectionDataSet GroundTruth { get; }

    /// <summary>COCOeval.eval['precision']: [T, R, K, A, M] in C order, -1 where a category has no ground truth.</summary>
    public double[] Precision { get; }

    /// <summary>COCOeval.eval['recall']: [T, K, A, M] in C order.</summary>
    public double[] Recall { get; }

    /// <summary>COCOeval.stats: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl.</summary>
    public double[] Stats { get; }

    public static readonly string[] StatNames = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"];

    private int T => Parameters.IouThresholds.Length;
    private int R => Parameters.RecallThresholds.Length;
    private int K => GroundTruth.Classes.Count;
    private int A => Parameters.AreaRanges.Length;
    private int M => Parameters.MaxDetections.Length;

    public double PrecisionAt(int t, int r, int k, int a, int m) => Precision[(((t * R + r) * K + k) * A + a) * M + m];
    public double RecallAt(int t, int k, int a, int m) => Recall[((t * K + k) * A + a) * M + m];

    public static CocoEvaluator Evaluate(DetectionDataSet gt, IReadOnlyList<DetectionRecord> detections, CocoParameters? parameters = null)
    {
        var p = parameters ?? new CocoParameters();
        if (p.MaxDetections.Length == 0 || p.MaxDetections.Zip(p.MaxDetections.Skip(1)).Any(x => x.First > x.Second))
            throw new ArgumentException("MaxDetections must be ascending and not empty");
        int I = gt.Images.Count, K = gt.Classes.Count, T = p.IouThresholds.Length, R = p.RecallThresholds.Length;
        int A = p.AreaRanges.Length, M = p.MaxDetections.Length;
        foreach (var d in detections)
        {
            if ((uint)d.ImageIndex >= (uint)I) throw new ArgumentException($"detection on image {d.ImageIndex}: the data set has {I} images");
            if ((uint)d.ClassIndex >= (uint)K) throw new ArgumentException($"detection of class {d.ClassIndex}: the data set has {K} classes");
            if (!double.IsFinite(d.Score) || !d.Box.IsFinite) throw new ArgumentException($"detection on image {d.ImageIndex}: score or box not finite");
        }

        // Per class: its ground truth (image order, file order) and its detections (image order, then input order).
        var gtByClass = new List<(int Image, GroundTruthObject Object)>[K];
        var dtByClass = new List<int>[K];
        for (int k = 0; k < K; k++) { gtByClass[k] = []; dtByClass[k] = []; }
        for (int i = 0; i < I; i++)
            foreach (var o in gt.Images[i].Objects) gtByClass[o.ClassIndex].Add((i, o));
        for (int n = 0; n < detections.Count; n++) dtByClass[detections[n].ClassIndex].Add(n);

        var precision = new double[T * R * K * A * M];
        var recall = new double[T * K * A * M];
        Array.Fill(precision, -1.0);
        Array.Fill(recall, -1.0);
        var gtCounts = new int[K];
        var dtCounts = new int[K];
        Parallel.For(0, K, k =>
        {
            var dts = dtByClass[k];
            dts.Sort((a, b) =>
            {
                int c = detections[a].ImageIndex.CompareTo(detections[b].ImageIndex);
                return c != 0 ? c : a.CompareTo(b);
            });
            gtCounts[k] = gtByClass[k].Count(g => !g.Object.IsCrowd && !g.Object.Difficult);
            dtCounts[k] = dts.Count;
            var images = EvaluateClass(gt, detections, gtByClass[k], dts, p);
            Accumulate(images, k, p, K, precision, recall);
        });
        return new CocoEvaluator(p, gt, precision, recall, gtCounts, dtCounts);
    }

    /// <summary>evaluateImg for one (image, category) at every area range: what accumulate needs of it.</summary>
    private sealed class ImageResult
    {
        public required double[] Scores;       // the kept detections' scores, highest first
        public required byte[][] Outcome;      // [area][t * D + d]: 1 true positive, 2 false positive, 0 ignored
        public required int[] NotIgnored;      // [area]: ground truth objects that count
    }

    private static List<ImageResult> EvaluateClass(DetectionDataSet gt, IReadOnlyList<DetectionRecord> detections,
        List<(int Image, GroundTruthObject Object)> gts, List<int> dts, CocoParameters p)
    {
        int T = p.IouThresholds.Length, A = p.AreaRanges.Length, maxDet = p.MaxDetections[^1];
        var results = new List<ImageResult>();
        int gi = 0, di = 0;
        var g = new List<GroundTruthObject>();
        var d = new List<DetectionRecord>();
        while (gi < gts.Count || di < dts.Count)
        {
            int image = Math.Min(gi < gts.Count ? gts[gi].Image : int.MaxValue, di < dts.Count ? detections[dts[di]].ImageIndex : int.MaxValue);
            g.Clear(); d.Clear();
            while (gi < gts.Count && gts[gi].Image == image) g.Add(gts[gi++].Object);
            while (di < dts.Count && detections[dts[di]].ImageIndex == image) d.Add(detections[dts[di++]]);
            double origin = gt.Images[image].PixelOrigin;

            // computeIoU: detections by score (stable), cut at maxDets[-1]; IoU [D x G] with ground truth in file order.
            var order = Evaluator.ByScoreDescending(d.Count, n => d[n].Score);
            int D = Math.Min(d.Count, maxDet), G = g.Count;
            var boxes = new PixelBox[D];
            var scores = new double[D];
            for (int n = 0; n < D; n++) { boxes[n] = d[order[n]].Box.Offset(origin); scores[n] = d[order[n]].Score; }
            var crowd = new bool[G];
            for (int j = 0; j < G; j++) crowd[j] = g[j].IsCrowd || g[j].Difficult;
            var iou = new double[D * G];
            for (int n = 0; n < D; n++)
                for (int j = 0; j < G; j++) iou[n * G + j] = BoxIou(boxes[n], g[j].Box, crowd[j]);

            var outcome = new byte[A][];
            var notIgnored = new int[A];
            var gtOrder = new int[G];
            var gtIgnore = new bool[G];
            var gtMatched = new bool[T * G];
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
                Array.Clear(gtMatched);
                var result = new byte[T * D];
                for (int t = 0; t < T; t++)
                {
                    for (int n = 0; n < D; n++)
                    {
                        double best = Math.Min(p.IouThresholds[t], 1 - 1e-10);
                        int m = -1;
                        if (D > 0 && G > 0)
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
                        result[t * D + n] = ignored ? (byte)0 : matched ? (byte)1 : (byte)2;
                    }
                }
                outcome[a] = result;
            }
            results.Add(new ImageResult { Scores = scores, Outcome = outcome, NotIgnored = notIgnored });
        }
        return results;
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

    /// <summary>COCOeval.accumulate for one category.</summary>
    private static void Accumulate(List<ImageResult> images, int k, CocoParameters p, int K, double[] precision, double[] recall)
    {
        if (images.Count == 0) return;
        int T = p.IouThresholds.Length, R = p.RecallThresholds.Length, A = p.AreaRanges.Length, M = p.MaxDetections.Length;
        const double Spacing1 = 2.220446049250313e-16; // np.spacing(1)
        var rc = new List<double>();
        var pr = new List<double>();
        for (int m = 0; m < M; m++)
        {
            int maxDet = p.MaxDetections[m];
            // The first maxDet detections of each image, merged by score (stable: image order, then rank).
            var refs = new List<(int Image, int Rank)>();
            var scores = new List<double>();
            for (int e = 0; e < images.Count; e++)
                for (int n = 0; n < Math.Min(maxDet, images[e].Scores.Length); n++) { refs.Add((e, n)); scores.Add(images[e].Scores[n]); }
            var order = Evaluator.ByScoreDescending(refs.Count, n => scores[n]);
            for (int a = 0; a < A; a++)
            {
                int npig = 0;
                foreach (var e in images) npig += e.NotIgnored[a];
                if (npig == 0) continue;
                for (int t = 0; t < T; t++)
                {
                    rc.Clear(); pr.Clear();
                    double tp = 0, fp = 0;
                    foreach (int o in order)
                    {
                        var (e, n) = refs[o];
                        var img = images[e];
                        byte outcome = img.Outcome[a][t * img.Scores.Length + n];
                        if (outcome == 1) tp++;
                        else if (outcome == 2) fp++;
                        rc.Add(tp / npig);
                        pr.Add(tp / (fp + tp + Spacing1));
                    }
                    int nd = rc.Count;
                    recall[((t * K + k) * A + a) * M + m] = nd > 0 ? rc[nd - 1] : 0;
                    for (int i = nd - 1; i > 0; i--)
                        if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
                    int pi = 0;
                    for (int ri = 0; ri < R; ri++)
                    {
                        double thr = p.RecallThresholds[ri];
                        while (pi < nd && rc[pi] < thr) pi++; // searchsorted(rc, thr, side='left')
                        precision[(((t * R + ri) * K + k) * A + a) * M + m] = pi < nd ? pr[pi] : 0;
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
