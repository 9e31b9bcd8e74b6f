using Ssd.Engine.Training.Input;

namespace Ssd.Engine.Training.Data.Augment;

/// <summary>
/// torchvision's SSD training augmentation (references/detection/presets.py, <c>data_augmentation="ssd"</c>):
/// RandomPhotometricDistort, RandomZoomOut(fill = the mean (123, 117, 104)), RandomIoUCrop, RandomHorizontalFlip(0.5),
/// each as references/detection/transforms.py writes it, on the PIL image its COCO loader gives (8-bit RGB; the colour
/// steps are Pillow's, <see cref="PilColor"/>) and float32 pixel corners. The model's transform (GeneralizedRCNNTransform)
/// resizes afterwards. Random draws come from the <see cref="DrawStream"/> in the order torchvision makes them: each
/// <c>torch.rand(n)</c> is n <see cref="DrawStream.NextFloat"/>, <c>torch.randint(0, n)</c> one
/// <see cref="DrawStream.NextInt"/>, <c>torch.randperm(n)</c> <see cref="DrawStream.Permutation"/>, and a ColorJitter
/// factor one <see cref="DrawStream.Uniform(double, double)"/>.
/// </summary>
public static class TorchvisionAugment
{
    /// <summary>The probabilities and ranges of the steps, torchvision's defaults unless changed.</summary>
    public sealed record Options
    {
        /// <summary>The probability of each colour step of RandomPhotometricDistort.</summary>
        public double PhotometricP { get; init; } = 0.5;
        /// <summary>The brightness factor range.</summary>
        public (double Lo, double Hi) Brightness { get; init; } = (0.875, 1.125);
        /// <summary>The contrast factor range.</summary>
        public (double Lo, double Hi) Contrast { get; init; } = (0.5, 1.5);
        /// <summary>The saturation factor range.</summary>
        public (double Lo, double Hi) Saturation { get; init; } = (0.5, 1.5);
        /// <summary>The hue shift range, in fractions of a turn.</summary>
        public (double Lo, double Hi) Hue { get; init; } = (-0.05, 0.05);
        /// <summary>The probability of RandomZoomOut.</summary>
        public double ZoomOutP { get; init; } = 0.5;
        /// <summary>The range of the canvas side as a multiple of the image side.</summary>
        public (double Lo, double Hi) ZoomOutSide { get; init; } = (1.0, 4.0);
        /// <summary>The canvas colour, R G B (torchvision passes the mean as the fill; PIL truncates it to ints).</summary>
        public byte[] Fill { get; init; } = [123, 117, 104];
        /// <summary>RandomIoUCrop's minimum-IoU choices (1.0: keep the whole image).</summary>
        public double[] CropOptions { get; init; } = [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0];
        /// <summary>The crops tried per choice before another is drawn.</summary>
        public int CropTrials { get; init; } = 40;
        /// <summary>The crop side range, as a fraction of the image side.</summary>
        public (double Lo, double Hi) CropScale { get; init; } = (0.3, 1.0);
        /// <summary>The crop aspect ratio range (width / height).</summary>
        public (double Lo, double Hi) CropAspect { get; init; } = (0.5, 2.0);
        /// <summary>The probability of the horizontal flip.</summary>
        public double FlipP { get; init; } = 0.5;
    }

    /// <summary>torchvision's settings.</summary>
    public static Options Default { get; } = new();

    /// <summary>
    /// RandomIoUCrop loops "while True" over options; an image whose boxes no crop can serve (none at all) keeps
    /// drawing until it draws the leave-as-is option. After this many options the image is left as it is (a chance
    /// below 1e-60 with the default seven options).
    /// </summary>
    public const int MaxCropOptions = 1000;

    /// <summary>The whole chain on one image and its objects (float32 pixel corners, <see cref="TrainingInput.Objects"/>).</summary>
    internal static (RgbPixels<byte> Image, LabelledBoxes Objects) Apply(RgbPixels<byte> image, LabelledBoxes objects, DrawStream rng, Options? options = null)
    {
        var o = options ?? Default;
        PhotometricDistort(image, rng, o);
        (image, objects) = ZoomOut(image, objects, rng, o);
        (image, objects) = IoUCrop(image, objects, rng, o);
        objects = HorizontalFlip(image, objects, rng, o);
        return (image, objects);
    }

    /// <summary>RandomPhotometricDistort: r = rand(7); brightness, contrast before or after saturation and hue, a channel permutation.</summary>
    internal static void PhotometricDistort(RgbPixels<byte> image, DrawStream rng, Options o)
    {
        Span<float> r = stackalloc float[7];
        for (int i = 0; i < 7; i++) r[i] = rng.NextFloat();
        var px = image.Pixels.AsSpan();
        float p = (float)o.PhotometricP;
        if (r[0] < p) PilColor.AdjustBrightness(px, rng.Uniform(o.Brightness.Lo, o.Brightness.Hi));
        bool contrastBefore = r[1] < 0.5f;
        if (contrastBefore && r[2] < p) PilColor.AdjustContrast(px, rng.Uniform(o.Contrast.Lo, o.Contrast.Hi));
        if (r[3] < p) PilColor.AdjustSaturation(px, rng.Uniform(o.Saturation.Lo, o.Saturation.Hi));
        if (r[4] < p) PilColor.AdjustHue(px, rng.Uniform(o.Hue.Lo, o.Hue.Hi));
        if (!contrastBefore && r[5] < p) PilColor.AdjustContrast(px, rng.Uniform(o.Contrast.Lo, o.Contrast.Hi));
        if (r[6] < p) image.PermuteChannels(rng.Permutation(3));
    }

    /// <summary>RandomZoomOut: with probability p, a canvas int(side * r) per side, r in [1, 4), the image at a random offset.</summary>
    internal static (RgbPixels<byte>, LabelledBoxes) ZoomOut(RgbPixels<byte> image, LabelledBoxes objects, DrawStream rng, Options o)
    {
        if (rng.NextFloat() >= (float)o.ZoomOutP) return (image, objects);
        float r = (float)o.ZoomOutSide.Lo + rng.NextFloat() * (float)(o.ZoomOutSide.Hi - o.ZoomOutSide.Lo);
        int canvasW = (int)(image.Width * r), canvasH = (int)(image.Height * r);
        int left = (int)((canvasW - image.Width) * rng.NextFloat());
        int top = (int)((canvasH - image.Height) * rng.NextFloat());
        var canvas = image.Place(canvasW, canvasH, left, top, o.Fill);
        var c = (double[])objects.Corners.Clone();
        for (int i = 0; i < c.Length; i++) c[i] = (float)c[i] + (i % 2 == 0 ? left : top);
        return (canvas, objects with { Corners = c });
    }

    /// <summary>
    /// RandomIoUCrop: pick a minimum IoU among the options (1.0 leaves the image as it is); up to 40 trials of a crop of
    /// int(side * U(0.3, 1)) per side with aspect in [0.5, 2], placed uniformly; it is taken when some box has its
    /// centre strictly inside and the largest IoU of those boxes with the crop reaches the minimum. Kept: the boxes
    /// with their centre inside, moved and clamped to the crop. Without success the next option is drawn.
    /// </summary>
    internal static (RgbPixels<byte>, LabelledBoxes) IoUCrop(RgbPixels<byte> image, LabelledBoxes objects, DrawStream rng, Options o)
    {
        int w = image.Width, h = image.Height;
        var crop = SampleCrop(w, h, objects, rng, o);
        if (crop is not { } rect) return (image, objects);
        var (left, top, newW, newH) = rect;
        var keep = CentresInside(objects, left, top, left + newW, top + newH);
        var kept = objects.Where(keep);
        var c = kept.Corners;
        for (int i = 0; i < c.Length; i++)
        {
            bool x = i % 2 == 0;
            float v = (float)c[i] - (x ? left : top);
            c[i] = Math.Clamp(v, 0f, x ? newW : newH);
        }
        return (image.Crop(left, top, newW, newH), kept);
    }

    /// <summary>The crop RandomIoUCrop takes (left, top, width, height), or null when it leaves the image as it is.</summary>
    internal static (int Left, int Top, int Width, int Height)? SampleCrop(int w, int h, LabelledBoxes objects, DrawStream rng, Options o)
    {
        float minScale = (float)o.CropScale.Lo, scaleRange = (float)(o.CropScale.Hi - o.CropScale.Lo);
        for (int option = 0; option < MaxCropOptions; option++)
        {
            double minIoU = o.CropOptions[rng.NextInt(o.CropOptions.Length)];
            if (minIoU >= 1.0) return null;
            for (int trial = 0; trial < o.CropTrials; trial++)
            {
                float r0 = minScale + scaleRange * rng.NextFloat(), r1 = minScale + scaleRange * rng.NextFloat();
                int newW = (int)(w * r0), newH = (int)(h * r1);
                if (newH == 0) continue;   // torchvision divides by zero here (images under 4 pixels high)
                double aspect = (double)newW / newH;
                if (!(o.CropAspect.Lo <= aspect && aspect <= o.CropAspect.Hi)) continue;
                int left = (int)((w - newW) * rng.NextFloat()), top = (int)((h - newH) * rng.NextFloat());
                int right = left + newW, bottom = top + newH;
                if (left == right || top == bottom) continue;
                var inside = CentresInside(objects, left, top, right, bottom);
                float best = float.NegativeInfinity;
                bool any = false;
                for (int g = 0; g < objects.Count; g++)
                    if (inside[g]) { any = true; best = Math.Max(best, IoU(objects.Corners.AsSpan(4 * g, 4), left, top, right, bottom)); }
                if (!any || best < (float)minIoU) continue;
                return (left, top, newW, newH);
            }
        }
        return null;
    }

    /// <summary>RandomHorizontalFlip: with probability p, the image mirrored and x1, x2 = width - x2, width - x1 (float32).</summary>
    internal static LabelledBoxes HorizontalFlip(RgbPixels<byte> image, LabelledBoxes objects, DrawStream rng, Options o)
    {
        if (!(rng.NextFloat() < (float)o.FlipP)) return objects;
        image.FlipHorizontal();
        var c = (double[])objects.Corners.Clone();
        for (int g = 0; g < objects.Count; g++)
        {
            float x1 = (float)c[4 * g], x2 = (float)c[4 * g + 2];
            c[4 * g] = image.Width - x2;
            c[4 * g + 2] = image.Width - x1;
        }
        return objects with { Corners = c };
    }

    /// <summary>(left &lt; cx &lt; right) and (top &lt; cy &lt; bottom) with cx = 0.5 * (x1 + x2) in float32.</summary>
    private static bool[] CentresInside(LabelledBoxes objects, int left, int top, int right, int bottom)
    {
        var inside = new bool[objects.Count];
        for (int g = 0; g < objects.Count; g++)
        {
            var b = objects.Corners.AsSpan(4 * g, 4);
            float cx = 0.5f * ((float)b[0] + (float)b[2]), cy = 0.5f * ((float)b[1] + (float)b[3]);
            inside[g] = left < cx && cx < right && top < cy && cy < bottom;
        }
        return inside;
    }

    /// <summary>torchvision.ops.box_iou of one box with the crop, in float32.</summary>
    private static float IoU(ReadOnlySpan<double> b, int left, int top, int right, int bottom)
    {
        float x1 = (float)b[0], y1 = (float)b[1], x2 = (float)b[2], y2 = (float)b[3];
        float area1 = (x2 - x1) * (y2 - y1);
        float area2 = (float)(right - left) * (bottom - top);
        float w = Math.Max(Math.Min(x2, right) - Math.Max(x1, left), 0f);
        float hh = Math.Max(Math.Min(y2, bottom) - Math.Max(y1, top), 0f);
        float inter = w * hh;
        return inter / (area1 + area2 - inter);
    }
}
