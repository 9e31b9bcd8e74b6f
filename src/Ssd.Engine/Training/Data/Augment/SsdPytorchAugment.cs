using Ssd.Engine.Training.Input;

namespace Ssd.Engine.Training.Data.Augment;

/// <summary>
/// ssd.pytorch's SSDAugmentation (utils/augmentations.py) before its resize: ConvertFromInts, ToAbsoluteCoords,
/// PhotometricDistort, Expand(mean), RandomSampleCrop, RandomMirror, on its float32 image (nothing clipped; the
/// colour conversions are OpenCV's on float, <see cref="OpenCvColor"/>) and pixel corners in double. ToPercentCoords,
/// Resize and SubtractMeans follow in <see cref="TrainingInput.Finish"/> and <see cref="TrainingInput.SsdPytorchImage"/>.
/// ssd.pytorch works on BGR; the pixels here are RGB, so its channel indices are mirrored where they matter (the
/// channel swap). Its crop's IoU test <c>overlap.min() &lt; min_iou and max_iou &lt; overlap.max()</c> never rejects
/// (max_iou is infinite); here a window is rejected when no box reaches min_iou, the check it meant (and Caffe's).
/// Draws: numpy's random.randint(2) = <see cref="DrawStream.NextInt"/>(2), random.uniform(a, b) =
/// <see cref="DrawStream.Uniform(double, double)"/>, random.choice of n options = NextInt(n).
/// </summary>
internal static class SsdPytorchAugment
{
    /// <summary>ssd.pytorch's Expand fill: its MEANS (104, 117, 123) in BGR, here R, G, B.</summary>
    public static readonly float[] Mean = [123f, 117f, 104f];

    /// <summary>RandomSampleCrop's options: null leaves the image; (min IoU, max IoU) with infinities for None.</summary>
    public static readonly (double Min, double Max)?[] CropOptions =
    [
        null, (0.1, double.PositiveInfinity), (0.3, double.PositiveInfinity), (0.7, double.PositiveInfinity),
        (0.9, double.PositiveInfinity), (double.NegativeInfinity, double.PositiveInfinity),
    ];

    public const int CropTrials = 50;

    /// <summary>After this many options without a crop the image is left as it is (ssd.pytorch loops forever).</summary>
    public const int MaxCropOptions = 1000;

    /// <summary>The BGR channel orders of RandomLightingNoise.</summary>
    private static readonly int[][] Swaps = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];

    public static (RgbPixels<float> Image, LabelledBoxes Objects) Apply(RgbPixels<float> image, LabelledBoxes objects, DrawStream rng)
    {
        PhotometricDistort(image, rng);
        (image, objects) = Expand(image, objects, rng);
        (image, objects) = RandomSampleCrop(image, objects, rng);
        objects = RandomMirror(image, objects, rng);
        return (image, objects);
    }

    /// <summary>
    /// PhotometricDistort: brightness +-32 (p 0.5); then, by a coin, contrast 0.5-1.5 before the HSV steps or after;
    /// saturation 0.5-1.5 and hue +-18 degrees (wrapped once into [0, 360]) in OpenCV's float HSV, each p 0.5; one of
    /// the six channel orders (p 0.5). In place.
    /// </summary>
    public static void PhotometricDistort(RgbPixels<float> image, DrawStream rng)
    {
        var px = image.Pixels.AsSpan();
        if (rng.NextInt(2) == 1) { float delta = (float)rng.Uniform(-32.0, 32.0); for (int i = 0; i < px.Length; i++) px[i] += delta; }
        bool contrastFirst = rng.NextInt(2) == 1;
        if (contrastFirst) Contrast(px, rng);
        OpenCvColor.RgbToHsv(px, image.Width);
        if (rng.NextInt(2) == 1) { float a = (float)rng.Uniform(0.5, 1.5); for (int i = 1; i < px.Length; i += 3) px[i] *= a; }
        if (rng.NextInt(2) == 1)
        {
            float d = (float)rng.Uniform(-18.0, 18.0);
            for (int i = 0; i < px.Length; i += 3)
            {
                px[i] += d;
                if (px[i] > 360f) px[i] -= 360f;
                if (px[i] < 0f) px[i] += 360f;
            }
        }
        OpenCvColor.HsvToRgb(px, image.Width);
        if (!contrastFirst) Contrast(px, rng);
        if (rng.NextInt(2) == 1)
        {
            var swap = Swaps[rng.NextInt(Swaps.Length)];
            image.PermuteChannels([2 - swap[2], 2 - swap[1], 2 - swap[0]]);
        }
    }

    private static void Contrast(Span<float> px, DrawStream rng)
    {
        if (rng.NextInt(2) == 0) return;
        float alpha = (float)rng.Uniform(0.5, 1.5);
        for (int i = 0; i < px.Length; i++) px[i] *= alpha;
    }

    /// <summary>Expand: with probability 0.5 a canvas int(side * ratio), ratio U(1, 4), of the mean, the image at (int(left), int(top)).</summary>
    public static (RgbPixels<float>, LabelledBoxes) Expand(RgbPixels<float> image, LabelledBoxes objects, DrawStream rng)
    {
        if (rng.NextInt(2) == 1) return (image, objects);
        int w = image.Width, h = image.Height;
        double ratio = rng.Uniform(1.0, 4.0);
        int left = (int)rng.Uniform(0.0, w * ratio - w), top = (int)rng.Uniform(0.0, h * ratio - h);
        var canvas = image.Place((int)(w * ratio), (int)(h * ratio), left, top, Mean);
        var c = (double[])objects.Corners.Clone();
        for (int i = 0; i < c.Length; i++) c[i] += i % 2 == 0 ? left : top;
        return (canvas, objects with { Corners = c });
    }

    /// <summary>
    /// RandomSampleCrop: choose an option (null: no crop); up to 50 trials of w = U(0.3 W, W), h = U(0.3 H, H) with
    /// h / w in [0.5, 2] at numpy's uniform(W - w) and uniform(H - h) (between 1 and W - w: see below), the window int(left), int(top), int(left + w), int(top + h);
    /// accepted when some box's IoU with it lies in [min, max] and some box's centre is strictly inside. Kept: those
    /// boxes, clamped to the window and moved into it.
    /// </summary>
    public static (RgbPixels<float>, LabelledBoxes) RandomSampleCrop(RgbPixels<float> image, LabelledBoxes objects, DrawStream rng)
    {
        if (SampleWindow(image.Width, image.Height, objects, rng, CropOptions) is not { } r) return (image, objects);
        var kept = objects.Where(CentresInside(objects, r.X1, r.Y1, r.X2, r.Y2));
        var c = kept.Corners;
        for (int g = 0; g < kept.Count; g++)
        {
            c[4 * g] = Math.Max(c[4 * g], r.X1) - r.X1;
            c[4 * g + 1] = Math.Max(c[4 * g + 1], r.Y1) - r.Y1;
            c[4 * g + 2] = Math.Min(c[4 * g + 2], r.X2) - r.X1;
            c[4 * g + 3] = Math.Min(c[4 * g + 3], r.Y2) - r.Y1;
        }
        return (image.Crop(r.X1, r.Y1, r.X2 - r.X1, r.Y2 - r.Y1), kept);
    }

    /// <summary>The window RandomSampleCrop takes (pixel corners, x2 and y2 exclusive), or null when it leaves the image.</summary>
    public static (int X1, int Y1, int X2, int Y2)? SampleWindow(int width, int height, LabelledBoxes objects, DrawStream rng, (double Min, double Max)?[] options)
    {
        for (int option = 0; option < MaxCropOptions; option++)
        {
            if (options[rng.NextInt(options.Length)] is not { } mode) return null;
            for (int trial = 0; trial < CropTrials; trial++)
            {
                double w = rng.Uniform(0.3 * width, width), h = rng.Uniform(0.3 * height, height);
                if (h / w < 0.5 || h / w > 2) continue;
                // numpy's random.uniform(width - w) is uniform(low = width - w, high = 1.0): ssd.pytorch's window starts
                // between 1 and width - w (or width - w and 1), not 0 and width - w. Kept as it is.
                double left = rng.Uniform(width - w, 1.0), top = rng.Uniform(height - h, 1.0);
                int x1 = (int)left, y1 = (int)top, x2 = (int)(left + w), y2 = (int)(top + h);
                if (x2 <= x1 || y2 <= y1) continue;
                bool reaches = false;
                for (int g = 0; g < objects.Count && !reaches; g++)
                {
                    double iou = IoU(objects.Corners.AsSpan(4 * g, 4), x1, y1, x2, y2);
                    reaches = iou >= mode.Min && iou <= mode.Max;
                }
                if (!reaches || !CentresInside(objects, x1, y1, x2, y2).Contains(true)) continue;
                return (x1, y1, x2, y2);
            }
        }
        return null;
    }

    private static bool[] CentresInside(LabelledBoxes objects, int x1, int y1, int x2, int y2)
    {
        var inside = new bool[objects.Count];
        for (int g = 0; g < objects.Count; g++)
        {
            var b = objects.Corners.AsSpan(4 * g, 4);
            double cx = (b[0] + b[2]) / 2.0, cy = (b[1] + b[3]) / 2.0;
            inside[g] = x1 < cx && y1 < cy && x2 > cx && y2 > cy;
        }
        return inside;
    }

    /// <summary>RandomMirror: with probability 0.5 the mirror image, x1, x2 = W - x2, W - x1.</summary>
    public static LabelledBoxes RandomMirror(RgbPixels<float> image, LabelledBoxes objects, DrawStream rng)
    {
        if (rng.NextInt(2) == 0) return objects;
        image.FlipHorizontal();
        var c = (double[])objects.Corners.Clone();
        for (int g = 0; g < objects.Count; g++)
            (c[4 * g], c[4 * g + 2]) = (image.Width - c[4 * g + 2], image.Width - c[4 * g]);
        return objects with { Corners = c };
    }

    /// <summary>jaccard_numpy of a box with the window, in double.</summary>
    private static double IoU(ReadOnlySpan<double> b, int x1, int y1, int x2, int y2)
    {
        double iw = Math.Max(Math.Min(b[2], x2) - Math.Max(b[0], x1), 0), ih = Math.Max(Math.Min(b[3], y2) - Math.Max(b[1], y1), 0);
        double inter = iw * ih;
        return inter / ((b[2] - b[0]) * (b[3] - b[1]) + (double)(x2 - x1) * (y2 - y1) - inter);
    }
}
