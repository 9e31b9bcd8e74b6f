namespace Ssd.Kernels.Nms;

/// <summary>Plain C# multi-class NMS with the semantics of <see cref="NmsConfig"/>.</summary>
public static class NmsReference
{
    /// <summary>
    /// boxes [N, P, 4] (x1, y1, x2, y2); scores [N, P, C]. Returns per image its detections, best first.
    /// </summary>
    public static Detection[][] Run(ReadOnlySpan<float> boxes, ReadOnlySpan<float> scores, int images, NmsConfig config)
    {
        int c = config.NumClasses;
        if (images <= 0 || boxes.Length % (4 * images) != 0) throw new ArgumentException($"nms: {boxes.Length} box floats are not {images} images x P x 4");
        int p = boxes.Length / (4 * images);
        config.Validate(p);
        if (scores.Length != (long)images * p * c) throw new ArgumentException($"nms: scores hold {scores.Length} floats, expected {images} x {p} x {c}");

        var result = new Detection[images][];
        for (int n = 0; n < images; n++)
        {
            var all = new List<(Detection D, int Rank)>();
            for (int cls = 0; cls < c; cls++)
            {
                if (cls == config.BackgroundLabel) continue;
                var candidates = new List<int>();
                for (int i = 0; i < p; i++)
                    if (scores[(n * p + i) * c + cls] > config.ScoreThreshold) candidates.Add(i);
                var nn = n;
                var scoresCopy = scores.ToArray();
                var order = candidates.OrderByDescending(i => scoresCopy[(nn * p + i) * c + cls]).Take(config.PreNmsTopK).ToList();
                var kept = new List<int>();
                foreach (int i in order)
                {
                    bool keep = true;
                    foreach (int k in kept)
                        if (Iou(boxes.Slice(4 * (n * p + i), 4), boxes.Slice(4 * (n * p + k), 4), config.Iou) > config.IouThreshold) { keep = false; break; }
                    if (keep) kept.Add(i);
                }
                for (int r = 0; r < kept.Count; r++)
                {
                    var b = boxes.Slice(4 * (n * p + kept[r]), 4);
                    all.Add((new Detection(n, cls, scores[(n * p + kept[r]) * c + cls], b[0], b[1], b[2], b[3]), r));
                }
            }
            // Stable: ties keep class order, then the class's rank.
            result[n] = all.OrderByDescending(t => t.D.Score).Take(config.KeepTopK).Select(t => t.D).ToArray();
        }
        return result;
    }

    public static float Iou(ReadOnlySpan<float> a, ReadOnlySpan<float> b, IouMode mode)
    {
        if (mode == IouMode.Caffe)
        {
            if (b[0] > a[2] || b[2] < a[0] || b[1] > a[3] || b[3] < a[1]) return 0f;
            float iw = MathF.Min(a[2], b[2]) - MathF.Max(a[0], b[0]);
            float ih = MathF.Min(a[3], b[3]) - MathF.Max(a[1], b[1]);
            float inter = iw * ih;
            float sa = a[2] < a[0] || a[3] < a[1] ? 0f : (a[2] - a[0]) * (a[3] - a[1]);
            float sb = b[2] < b[0] || b[3] < b[1] ? 0f : (b[2] - b[0]) * (b[3] - b[1]);
            return inter / (sa + sb - inter);
        }
        float areaA = (a[2] - a[0]) * (a[3] - a[1]), areaB = (b[2] - b[0]) * (b[3] - b[1]);
        float w = MathF.Max(MathF.Min(a[2], b[2]) - MathF.Max(a[0], b[0]), 0f);
        float h = MathF.Max(MathF.Min(a[3], b[3]) - MathF.Max(a[1], b[1]), 0f);
        float i2 = w * h;
        return i2 / (areaA + areaB - i2);
    }
}
