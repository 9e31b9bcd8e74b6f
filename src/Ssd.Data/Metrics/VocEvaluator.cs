namespace Ssd.Data.Metrics;

/// <summary>The VOC metric's choices.</summary>
public sealed record VocParameters
{
    /// <summary>True: VOC2007's 11-point AP; false: VOC2010+'s area under the monotone precision envelope.</summary>
    public bool Use07Metric { get; init; } = true;

    /// <summary>The IoU a detection needs with a ground-truth box to match it.</summary>
    public double IouThreshold { get; init; } = 0.5;

    /// <summary>
    /// True (the default): a match needs IoU &gt; the threshold, as py-faster-rcnn's voc_eval.py (the reference the
    /// project's issue names) has it; false: IoU &gt;= the threshold, as the MATLAB devkit's VOCevaldet.m has it.
    /// </summary>
    public bool StrictlyGreater { get; init; } = true;
}

/// <summary>
/// PASCAL VOC detection AP as py-faster-rcnn's <c>voc_eval.py</c> computes it (the devkit's <c>VOCevaldet.m</c>
/// ported): per class, the detections of all images sorted by score (stable, as MATLAB's sort; voc_eval.py's
/// quicksort leaves the order of tied scores to numpy), each matched to the ground truth of its image with the
/// highest IoU, computed with VOC's inclusive pixel widths (x2 - x1 + 1); above the threshold it is a true positive
/// on an unmatched object, a false positive on an already matched one, and neither on a difficult one (difficult
/// objects are also left out of the positives). AP is the VOC2007 11-point mean of the interpolated precision at
/// recall 0, 0.1, ..., 1, or the VOC2010+ area under the precision envelope. A class without positives has AP NaN
/// (the devkit divides by zero) and is left out of the mAP. COCO crowd regions count as difficult.
/// Detection boxes (image pixels from 0) are moved by the image's pixel origin first (+1 on VOC's 1-based
/// annotations, as ssd.pytorch's and py-faster-rcnn's evaluation scripts do).
/// </summary>
public static class VocEvaluator
{
    /// <summary>Scores <paramref name="detections"/> on <paramref name="gt"/> as py-faster-rcnn's voc_eval.py does, class by class.</summary>
    public static MetricResult Evaluate(DetectionDataSet gt, IReadOnlyList<DetectionRecord> detections, VocParameters? parameters = null)
    {
        var p = parameters ?? new VocParameters();
        int I = gt.Images.Count, K = gt.Classes.Count;
        var byClass = new List<int>[K];
        for (int k = 0; k < K; k++) byClass[k] = [];
        for (int n = 0; n < detections.Count; n++)
        {
            var d = detections[n];
            if ((uint)d.ImageIndex >= (uint)I) throw new ArgumentException($"detection on image {d.ImageIndex}: the data set has {I} images");
            if ((uint)d.ClassIndex >= (uint)K) throw new ArgumentException($"detection of class {d.ClassIndex}: the data set has {K} classes");
            if (!double.IsFinite(d.Score) || !d.Box.IsFinite) throw new ArgumentException($"detection on image {d.ImageIndex}: score or box not finite");
            byClass[d.ClassIndex].Add(n);
        }
        var scores = new ClassScore[K];
        Parallel.For(0, K, k => scores[k] = EvaluateClass(gt, detections, byClass[k], k, p));
        double map = Evaluator.MeanOfDefined(scores.Select(s => s.AP));
        return new MetricResult(p.Use07Metric ? MetricKind.Voc07 : MetricKind.Voc2010, [new("mAP", map)], scores);
    }

    private static ClassScore EvaluateClass(DetectionDataSet gt, IReadOnlyList<DetectionRecord> detections, List<int> dets, int k, VocParameters p)
    {
        // The class's ground truth per image (difficult ones too), and the positives.
        var boxes = new PixelBox[gt.Images.Count][];
        var difficult = new bool[gt.Images.Count][];
        var found = new bool[gt.Images.Count][];
        int npos = 0;
        for (int i = 0; i < gt.Images.Count; i++)
        {
            var objects = gt.Images[i].Objects.Where(o => o.ClassIndex == k).ToArray();
            boxes[i] = objects.Select(o => o.Box).ToArray();
            difficult[i] = objects.Select(o => o.Difficult || o.IsCrowd).ToArray();
            found[i] = new bool[objects.Length];
            npos += difficult[i].Count(x => !x);
        }

        var order = Evaluator.ByScoreDescending(dets.Select(n => detections[n].Score).ToArray());
        var tp = new double[order.Length];
        var fp = new double[order.Length];
        for (int n = 0; n < order.Length; n++)
        {
            var d = detections[dets[order[n]]];
            var bb = d.Box.Offset(gt.Images[d.ImageIndex].PixelOrigin);
            var g = boxes[d.ImageIndex];
            double ovmax = double.NegativeInfinity;
            int jmax = -1;
            for (int j = 0; j < g.Length; j++)
            {
                double o = Overlap(bb, g[j]);
                if (o > ovmax) { ovmax = o; jmax = j; } // np.argmax: the first of equal maxima
            }
            bool match = p.StrictlyGreater ? ovmax > p.IouThreshold : ovmax >= p.IouThreshold;
            if (match)
            {
                if (!difficult[d.ImageIndex][jmax])
                {
                    if (!found[d.ImageIndex][jmax]) { tp[n] = 1; found[d.ImageIndex][jmax] = true; }
                    else fp[n] = 1;
                }
            }
            else fp[n] = 1;
        }

        const double Eps = 2.220446049250313e-16; // np.finfo(np.float64).eps
        var rec = new double[order.Length];
        var prec = new double[order.Length];
        double ctp = 0, cfp = 0;
        for (int n = 0; n < order.Length; n++)
        {
            ctp += tp[n];
            cfp += fp[n];
            rec[n] = ctp / npos;
            prec[n] = ctp / Math.Max(ctp + cfp, Eps);
        }
        double ap = npos == 0 ? double.NaN : AveragePrecision(rec, prec, p.Use07Metric);
        var curves = npos == 0 ? (IReadOnlyList<PrSeries>)[] : [new PrSeries(p.StrictlyGreater ? $"IoU > {p.IouThreshold}" : $"IoU >= {p.IouThreshold}", rec, prec)];
        return new ClassScore(gt.Classes[k].Name, ap, npos, dets.Count, curves);
    }

    /// <summary>voc_eval.py's IoU: widths and heights with +1 (VOC's pixel boxes include both end pixels).</summary>
    internal static double Overlap(PixelBox bb, PixelBox g)
    {
        double ixmin = Math.Max(g.X1, bb.X1), iymin = Math.Max(g.Y1, bb.Y1);
        double ixmax = Math.Min(g.X2, bb.X2), iymax = Math.Min(g.Y2, bb.Y2);
        double iw = Math.Max(ixmax - ixmin + 1.0, 0.0), ih = Math.Max(iymax - iymin + 1.0, 0.0);
        double inters = iw * ih;
        double uni = (bb.X2 - bb.X1 + 1.0) * (bb.Y2 - bb.Y1 + 1.0) + (g.X2 - g.X1 + 1.0) * (g.Y2 - g.Y1 + 1.0) - inters;
        return inters / uni;
    }

    /// <summary>voc_eval.py's voc_ap.</summary>
    public static double AveragePrecision(double[] rec, double[] prec, bool use07Metric)
    {
        if (use07Metric)
        {
            double ap = 0;
            for (int i = 0; i < 11; i++)
            {
                double t = i * 0.1; // np.arange(0., 1.1, 0.1)
                double p = 0;
                bool any = false;
                for (int n = 0; n < rec.Length; n++)
                    if (rec[n] >= t) { p = any ? Math.Max(p, prec[n]) : prec[n]; any = true; }
                ap = ap + p / 11.0;
            }
            return ap;
        }
        var mrec = new double[rec.Length + 2];
        var mpre = new double[prec.Length + 2];
        mrec[0] = 0; mrec[^1] = 1;
        mpre[0] = 0; mpre[^1] = 0;
        rec.CopyTo(mrec, 1);
        prec.CopyTo(mpre, 1);
        for (int i = mpre.Length - 1; i > 0; i--) mpre[i - 1] = Math.Max(mpre[i - 1], mpre[i]);
        double sum = 0;
        for (int i = 0; i < mrec.Length - 1; i++)
            if (mrec[i + 1] != mrec[i]) sum += (mrec[i + 1] - mrec[i]) * mpre[i + 1];
        return sum;
    }
}
