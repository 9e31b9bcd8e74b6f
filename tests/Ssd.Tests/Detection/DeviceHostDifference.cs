using Ssd.Engine.PostProcessing;
using FoundObject = Ssd.Engine.Detection.Detection;

namespace Ssd.Tests.Detection;

/// <summary>
/// The device's detections against the host's on the same inputs. On the CPU simulator and on OpenCL (PoCL) they are
/// bit-identical: the kernels compute what the host code computes, operation for operation. On CUDA they may not be:
/// ILGPU writes plain <c>mul.f32</c> / <c>add.f32</c> (no <c>.rn</c>), which ptxas and the driver's PTX JIT may
/// contract into one FFMA (one rounding instead of two); tools/gpu-check.sh counts the contracted pairs per kernel
/// (ptxas --fmad=true against --fmad=false). So on CUDA a difference is measured and printed, and bounded: the same
/// detections per image (count and classes, in order), boxes within <see cref="BoxBound"/> px and scores within
/// <see cref="ScoreBound"/> (the acceptance tests' tolerance against OpenCV), which rounding-level differences meet.
/// </summary>
public static class DeviceHostDifference
{
    public const float BoxBound = 0.01f, ScoreBound = 1e-5f;

    /// <summary>What differs: detections compared, those not bit-identical, the largest box-corner and score differences.</summary>
    public sealed record Measured(int Compared, int Differing, float MaxBoxDiff, float MaxScoreDiff)
    {
        public bool Identical => Differing == 0;
        public override string ToString() => Identical
            ? $"bit-identical ({Compared} detections)"
            : $"{Differing} of {Compared} detections differ: max |box diff| {MaxBoxDiff:G3} px, max |score diff| {MaxScoreDiff:G3}";
    }

    private readonly record struct Row(int ClassId, float Score, float X1, float Y1, float X2, float Y2);

    public static Measured AssertSame(string what, string device, IReadOnlyList<IReadOnlyList<PostDetection>> host, IReadOnlyList<IReadOnlyList<PostDetection>> onDevice) =>
        Compare(what, device, Rows(host, d => new Row(d.ClassId, d.Score, d.X1, d.Y1, d.X2, d.Y2)), Rows(onDevice, d => new Row(d.ClassId, d.Score, d.X1, d.Y1, d.X2, d.Y2)));

    public static Measured AssertSame(string what, string device, IReadOnlyList<IReadOnlyList<FoundObject>> host, IReadOnlyList<IReadOnlyList<FoundObject>> onDevice) =>
        Compare(what, device, Rows(host, Of), Rows(onDevice, Of));

    private static Row Of(FoundObject d) => new(d.ClassId, d.Score, d.Box.X1, d.Box.Y1, d.Box.X2, d.Box.Y2);

    private static Row[][] Rows<T>(IReadOnlyList<IReadOnlyList<T>> images, Func<T, Row> row) => [.. images.Select(i => i.Select(row).ToArray())];

    private static Measured Compare(string what, string device, Row[][] host, Row[][] onDevice)
    {
        Assert.That(onDevice, Has.Length.EqualTo(host.Length), $"{what}: images");
        int compared = 0, differing = 0;
        float maxBox = 0, maxScore = 0;
        for (int img = 0; img < host.Length; img++)
        {
            // Bit-identical is required everywhere but CUDA; on CUDA the same detections, in order, within the bounds.
            if (device != "cuda") Assert.That(onDevice[img], Is.EqualTo(host[img]), $"{what} on {device}, image {img}");
            Assert.That(onDevice[img].Select(d => d.ClassId), Is.EqualTo(host[img].Select(d => d.ClassId)), $"{what} on {device}, image {img}: classes in order");
            for (int k = 0; k < host[img].Length; k++)
            {
                var (h, d) = (host[img][k], onDevice[img][k]);
                compared++;
                if (h == d) continue;
                differing++;
                maxBox = MathF.Max(maxBox, new[] { d.X1 - h.X1, d.Y1 - h.Y1, d.X2 - h.X2, d.Y2 - h.Y2 }.Max(MathF.Abs));
                maxScore = MathF.Max(maxScore, MathF.Abs(d.Score - h.Score));
            }
        }
        var measured = new Measured(compared, differing, maxBox, maxScore);
        TestContext.Out.WriteLine($"{what}, {device} against the host: {measured}");
        Assert.That(measured.MaxBoxDiff, Is.LessThanOrEqualTo(BoxBound), $"{what} on {device}: box difference beyond rounding");
        Assert.That(measured.MaxScoreDiff, Is.LessThanOrEqualTo(ScoreBound), $"{what} on {device}: score difference beyond rounding");
        return measured;
    }
}
