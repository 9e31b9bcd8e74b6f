using Ssd.Engine.PostProcessing;

namespace Ssd.Tests.Detection;

/// <summary>Compares detections as sets: same count per image, each expected one matched by class, score and box.</summary>
public static class DetectionAssert
{
    /// <param name="expected">Rows [image, class, score, x1, y1, x2, y2].</param>
    public static void SameSet(float[][] expected, IReadOnlyList<PostDetection>[] actual, float boxTolerance,
        float scoreTolerance = 1e-5f, float? threshold = null)
    {
        // A score within a rounding step of the threshold may fall either side of it: such detections are not compared.
        bool OnThreshold(float s) => threshold is float t && MathF.Abs(s - t) <= 1e-6f;
        float maxBox = 0f, maxScore = 0f;
        for (int img = 0; img < actual.Length; img++)
        {
            var want = expected.Where(r => (int)r[0] == img && !OnThreshold(r[2])).ToList();
            var got = actual[img].Where(d => !OnThreshold(d.Score)).ToList();
            Assert.That(got, Has.Count.EqualTo(want.Count), $"image {img}: detection count");
            var used = new bool[got.Count];
            foreach (var r in want)
            {
                int match = got.FindIndex(d => !used[got.IndexOf(d)] && d.ClassId == (int)r[1]
                    && MathF.Abs(d.Score - r[2]) <= scoreTolerance
                    && MathF.Abs(d.X1 - r[3]) <= boxTolerance && MathF.Abs(d.Y1 - r[4]) <= boxTolerance
                    && MathF.Abs(d.X2 - r[5]) <= boxTolerance && MathF.Abs(d.Y2 - r[6]) <= boxTolerance);
                Assert.That(match, Is.GreaterThanOrEqualTo(0),
                    $"image {img}: expected class {r[1]} score {r[2]} box ({r[3]}, {r[4]}, {r[5]}, {r[6]}) not found");
                used[match] = true;
                var m = got[match];
                maxScore = MathF.Max(maxScore, MathF.Abs(m.Score - r[2]));
                maxBox = new[] { m.X1 - r[3], m.Y1 - r[4], m.X2 - r[5], m.Y2 - r[6] }.Select(MathF.Abs).Append(maxBox).Max();
            }
            TestContext.Out.WriteLine($"image {img}: {want.Count} detections, max |score diff| {maxScore:G3}, max |box diff| {maxBox:G3}");
            for (int k = 1; k < actual[img].Count; k++)
                Assert.That(actual[img][k].Score, Is.LessThanOrEqualTo(actual[img][k - 1].Score), $"image {img}: not sorted by score");
        }
    }
}
