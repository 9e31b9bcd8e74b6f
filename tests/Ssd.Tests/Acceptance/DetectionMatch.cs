using Ssd.Engine.Detection;
using FoundObject = Ssd.Engine.Detection.Detection;

namespace Ssd.Tests.Acceptance;

/// <summary>
/// Compares a detector's output with a reference implementation's as sets: each expected detection is paired
/// with the unused detection of the same class that overlaps it most (IoU &gt;= 0.5); paired detections must have
/// every box corner within <c>boxTolerance</c> pixels and the score within <c>scoreTolerance</c>. A detection may
/// stay unpaired only when its score lies within <c>scoreTolerance</c> of a cut-off (the confidence threshold, or
/// the lowest score kept when keep_top_k truncated the list): rounding may put such a score either side. A box of
/// zero area (clipped onto the border) has no IoU: it pairs with a detection whose corners are within the tolerance,
/// the nearest score first.
/// </summary>
public static class DetectionMatch
{
    public sealed record Result(int Matched, int UnpairedAtCutoff, float MaxBoxDiff, float MaxScoreDiff);

    public static Result AssertSameSet(string what, IReadOnlyList<PeerDetection> expected, IReadOnlyList<FoundObject> actual,
        float boxTolerance, float scoreTolerance, float[] cutoffs)
    {
        bool AtCutoff(float score) => cutoffs.Any(c => MathF.Abs(score - c) <= scoreTolerance);
        var used = new bool[actual.Count];
        int matched = 0, unpaired = 0;
        float maxBox = 0, maxScore = 0;
        foreach (var e in expected)
        {
            int best = -1;
            double bestIou = 0.5;
            for (int i = 0; i < actual.Count; i++)
            {
                if (used[i] || actual[i].ClassId != e.ClassId) continue;
                double iou = Degenerate(e) ? SameCorners(e, actual[i], boxTolerance) : Iou(e, actual[i].Box);
                if (iou >= bestIou) (best, bestIou) = (i, iou);
            }
            if (best < 0)
            {
                Assert.That(AtCutoff(e.Score), $"{what}: expected class {e.ClassId} score {e.Score} box [{e.X1}, {e.Y1}, {e.X2}, {e.Y2}] not found");
                unpaired++;
                continue;
            }
            used[best] = true;
            var a = actual[best];
            float box = new[] { a.Box.X1 - e.X1, a.Box.Y1 - e.Y1, a.Box.X2 - e.X2, a.Box.Y2 - e.Y2 }.Max(MathF.Abs);
            float score = MathF.Abs(a.Score - e.Score);
            Assert.That(box, Is.LessThanOrEqualTo(boxTolerance), $"{what}: class {e.ClassId} score {e.Score}: box differs by {box} px");
            Assert.That(score, Is.LessThanOrEqualTo(scoreTolerance), $"{what}: class {e.ClassId} score {e.Score} vs {a.Score}");
            (maxBox, maxScore) = (MathF.Max(maxBox, box), MathF.Max(maxScore, score));
            matched++;
        }
        for (int i = 0; i < actual.Count; i++)
        {
            if (used[i]) continue;
            var a = actual[i];
            Assert.That(AtCutoff(a.Score), $"{what}: extra detection class {a.ClassId} score {a.Score} box [{a.Box.X1}, {a.Box.Y1}, {a.Box.X2}, {a.Box.Y2}]");
            unpaired++;
        }
        TestContext.Out.WriteLine($"{what}: {matched} of {expected.Count} expected matched ({actual.Count} found, {unpaired} unpaired at a cut-off); "
            + $"max |box diff| {maxBox:G3} px, max |score diff| {maxScore:G3}");
        return new Result(matched, unpaired, maxBox, maxScore);
    }

    private static double Iou(PeerDetection e, BoxF a)
    {
        double iw = Math.Min(e.X2, a.X2) - Math.Max(e.X1, a.X1), ih = Math.Min(e.Y2, a.Y2) - Math.Max(e.Y1, a.Y1);
        if (iw <= 0 || ih <= 0) return 0;
        double inter = iw * ih, union = (double)(e.X2 - e.X1) * (e.Y2 - e.Y1) + (double)(a.X2 - a.X1) * (a.Y2 - a.Y1) - inter;
        return inter / union;
    }

    private static bool Degenerate(PeerDetection e) => !(e.X2 > e.X1 && e.Y2 > e.Y1);

    private static double SameCorners(PeerDetection e, FoundObject a, float boxTolerance)
    {
        float box = new[] { a.Box.X1 - e.X1, a.Box.Y1 - e.Y1, a.Box.X2 - e.X2, a.Box.Y2 - e.Y2 }.Max(MathF.Abs);
        return box <= boxTolerance ? 1.0 - MathF.Abs(a.Score - e.Score) : 0.0;
    }
}
