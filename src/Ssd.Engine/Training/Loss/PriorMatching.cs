namespace Ssd.Engine.Training.Loss;

/// <summary>
/// Which object each default box is matched to (the paper's x_ij): <see cref="Object"/>[p] is the index of the
/// ground-truth box prior p regresses to and takes its class from, or -1 for the background.
/// <see cref="Overlap"/>[p] is Caffe's match overlap (the IoU that decides whether an unmatched prior may be mined as
/// a negative); the other flavours leave it empty.
/// </summary>
internal sealed class PriorMatching(int[] match, float[] overlap)
{
    public int[] Object { get; } = match;
    public float[] Overlap { get; } = overlap;

    public int Positives
    {
        get
        {
            int n = 0;
            foreach (int m in Object) if (m >= 0) n++;
            return n;
        }
    }
}

/// <summary>
/// Matching default boxes to ground truth (the paper's section 2.2, "Matching strategy"), in the two forms the
/// references take. The Jaccard overlap is the same float arithmetic in all three (torchvision's box_iou,
/// ssd.pytorch's jaccard, Caffe's JaccardOverlap): intersection = max(0, w) * max(0, h), union = (area a + area b)
/// - intersection, IoU = intersection / union.
/// </summary>
internal static class PriorMatcher
{
    /// <summary>Jaccard overlap of two corner boxes a = (a0, a1, a2, a3) and b.</summary>
    public static float Jaccard(float a0, float a1, float a2, float a3, float b0, float b1, float b2, float b3)
    {
        float w = MathF.Max(MathF.Min(a2, b2) - MathF.Max(a0, b0), 0f);
        float h = MathF.Max(MathF.Min(a3, b3) - MathF.Max(a1, b1), 0f);
        float inter = w * h;
        float union = (a2 - a0) * (a3 - a1) + (b2 - b0) * (b3 - b1) - inter;
        return inter / union;
    }

    /// <summary>
    /// torchvision's SSDMatcher and ssd.pytorch's match: each prior takes its best object (the first of equal
    /// overlaps) when the overlap is at least <paramref name="threshold"/>; then each object's best prior (the first
    /// of equal overlaps) is forced to it, even at overlap 0, objects in order, so a prior that is the best of two
    /// objects goes to the later one. <paramref name="priors"/> are P corner boxes in the objects' coordinates.
    /// </summary>
    public static PriorMatching ForcedBestPrior(ReadOnlySpan<float> priors, GroundTruth truth, float threshold)
    {
        int p = priors.Length / 4, g = truth.Count;
        var match = new int[p];
        Array.Fill(match, -1);
        if (g == 0) return new PriorMatching(match, []);
        var best = new float[p];
        Array.Fill(best, float.NegativeInfinity);
        var bestPrior = new int[g];
        var box = truth.Boxes;
        for (int j = 0; j < g; j++)
        {
            float b0 = box[4 * j], b1 = box[4 * j + 1], b2 = box[4 * j + 2], b3 = box[4 * j + 3];
            float bestOfObject = float.NegativeInfinity;
            for (int i = 0; i < p; i++)
            {
                float iou = Jaccard(b0, b1, b2, b3, priors[4 * i], priors[4 * i + 1], priors[4 * i + 2], priors[4 * i + 3]);
                if (iou > best[i]) { best[i] = iou; match[i] = j; }
                if (iou > bestOfObject) { bestOfObject = iou; bestPrior[j] = i; }
            }
        }
        for (int i = 0; i < p; i++)
            if (!(best[i] >= threshold)) match[i] = -1;
        for (int j = 0; j < g; j++) match[bestPrior[j]] = j;
        return new PriorMatching(match, []);
    }

    /// <summary>
    /// Caffe's MatchBBox (BIPARTITE then PER_PREDICTION): overlaps of at most 1e-6 do not count. Bipartite: while
    /// objects remain, the (unmatched prior, remaining object) pair of the highest overlap is matched (of equal
    /// pairs the lowest prior, then the lowest object), so objects get distinct priors; an object that overlaps no
    /// free prior stays unmatched. Then every other prior goes to its best object (the first of equal overlaps)
    /// with overlap &gt;= <paramref name="threshold"/>. Overlap[p] is the matched pair's overlap, or for an unmatched
    /// prior its largest overlap with any object.
    /// </summary>
    public static PriorMatching Bipartite(ReadOnlySpan<float> priors, GroundTruth truth, float threshold)
    {
        int p = priors.Length / 4, g = truth.Count;
        var match = new int[p];
        Array.Fill(match, -1);
        var overlap = new float[p];
        if (g == 0) return new PriorMatching(match, overlap);
        // iou[j * p + i], zero where Caffe stores nothing (<= 1e-6).
        var iou = new float[(long)g * p];
        var box = truth.Boxes;
        for (int j = 0; j < g; j++)
        {
            float b0 = box[4 * j], b1 = box[4 * j + 1], b2 = box[4 * j + 2], b3 = box[4 * j + 3];
            for (int i = 0; i < p; i++)
            {
                float o = Jaccard(priors[4 * i], priors[4 * i + 1], priors[4 * i + 2], priors[4 * i + 3], b0, b1, b2, b3);
                if (o > 1e-6f)
                {
                    iou[(long)j * p + i] = o;
                    if (o > overlap[i]) overlap[i] = o;
                }
            }
        }

        // Bipartite, with each remaining object's best free prior cached (recomputed when that prior is taken).
        var bestPrior = new int[g];
        var remaining = new bool[g];
        for (int j = 0; j < g; j++) { remaining[j] = true; bestPrior[j] = BestFreePrior(iou, p, j, match); }
        for (int round = 0; round < g; round++)
        {
            int pick = -1;
            float pickOverlap = 0f;
            for (int j = 0; j < g; j++)
            {
                if (!remaining[j] || bestPrior[j] < 0) continue;
                float o = iou[(long)j * p + bestPrior[j]];
                if (pick < 0 || o > pickOverlap || (o == pickOverlap && bestPrior[j] < bestPrior[pick]))
                {
                    pick = j;
                    pickOverlap = o;
                }
            }
            if (pick < 0) break;
            int prior = bestPrior[pick];
            match[prior] = pick;
            overlap[prior] = pickOverlap;
            remaining[pick] = false;
            for (int j = 0; j < g; j++)
                if (remaining[j] && bestPrior[j] == prior) bestPrior[j] = BestFreePrior(iou, p, j, match);
        }

        for (int i = 0; i < p; i++)
        {
            if (match[i] != -1) continue;
            int bestObject = -1;
            float bestOverlap = -1f;
            for (int j = 0; j < g; j++)
            {
                float o = iou[(long)j * p + i];
                if (o > 0f && o >= threshold && o > bestOverlap) { bestObject = j; bestOverlap = o; }
            }
            if (bestObject >= 0) { match[i] = bestObject; overlap[i] = bestOverlap; }
        }
        return new PriorMatching(match, overlap);
    }

    /// <summary>The unmatched prior of the highest stored overlap with object j (the lowest of equals), or -1.</summary>
    private static int BestFreePrior(float[] iou, int p, int j, int[] match)
    {
        int best = -1;
        float bestOverlap = 0f;
        long row = (long)j * p;
        for (int i = 0; i < p; i++)
        {
            float o = iou[row + i];
            if (o > bestOverlap && match[i] == -1) { best = i; bestOverlap = o; }
        }
        return best;
    }
}
