using Ssd.Engine.Training.Input;

namespace Ssd.Engine.Training.Data.Augment;

/// <summary>
/// Caffe SSD's training augmentation (weiliu89/caffe ssd branch: AnnotatedDataLayer with ssd_pascal.py's
/// transform_param and batch_sampler list), before its resize, on the 8-bit image and the objects as fractions of the
/// image (<see cref="TrainingInput.Objects"/>, float):
/// 1. distort_param (im_transforms ApplyDistort): a coin picks the order brightness, contrast, saturation, hue or
///    brightness, saturation, hue, contrast; each step applies with its probability; then the channel reorder;
/// 2. expand_param (ExpandImage): with probability prob a canvas int(side x U(1, max_expand_ratio)) of the mean, the
///    image at (floor(U(0, W' - W)), floor(U(0, H' - H))) (the vertical offset drawn first);
/// 3. the batch samplers (sampler.cpp GenerateBatchSamples): each sampler makes up to max_trials boxes (scale
///    U(min, max), aspect U(min, max) held to [scale², 1 / scale²], width scale √aspect, height scale / √aspect,
///    both at most 1, position uniform), keeping those that meet its jaccard constraint with some object, at most
///    max_sample; one of all the kept boxes is picked at random and the image cropped to it;
/// 4. emit constraint CENTER: an object stays when its centre lies in the crop (bounds included), projected into it,
///    clipped to [0, 1] and kept when it still has an area;
/// 5. mirror with probability 0.5 (the transformer's Rand(2)).
/// The colour steps are OpenCV's on 8-bit pixels (convertTo with cvRound and saturation, the HSV conversions of
/// <see cref="OpenCvColor"/>, H on 0..180 shifted without wrapping, as Caffe does it). One difference from Caffe, on
/// purpose: Caffe projects the objects onto the sampled box but cuts the pixels at its floored pixel corners, so a
/// box can be off its pixels by up to a pixel; here the objects are projected onto the pixels actually cut.
/// Draws: each caffe_rng_uniform(a, b) is <see cref="DrawStream.Uniform(float, float)"/>, caffe_rng_rand() % n and
/// Rand(n) are <see cref="DrawStream.NextInt"/>.
/// </summary>
public static class CaffeAugment
{
    /// <summary>
    /// One batch_sampler: the box's scale and aspect ranges, its jaccard constraint with the objects (null: none; a
    /// sampler without any constraint always succeeds), how many boxes it may keep and how many it may try.
    /// </summary>
    public sealed record Sampler(float MinScale, float MaxScale, float MinAspect, float MaxAspect, float? MinJaccard, float? MaxJaccard,
        int MaxSample = 1, int MaxTrials = 50);

    /// <summary>transform_param's distort_param, expand_param and mirror, and the batch_sampler list.</summary>
    public sealed record Options
    {
        /// <summary>ssd_pascal.py's seven: the whole image, minimum jaccard 0.1, 0.3, 0.5, 0.7, 0.9, and maximum 1.</summary>
        public Sampler[] Samplers { get; init; } =
        [
            new(1f, 1f, 1f, 1f, null, null, 1, 1),
            new(0.3f, 1f, 0.5f, 2f, 0.1f, null), new(0.3f, 1f, 0.5f, 2f, 0.3f, null), new(0.3f, 1f, 0.5f, 2f, 0.5f, null),
            new(0.3f, 1f, 0.5f, 2f, 0.7f, null), new(0.3f, 1f, 0.5f, 2f, 0.9f, null), new(0.3f, 1f, 0.5f, 2f, null, 1f),
        ];
        /// <summary>Whether distort_param is set (the colour steps run at all).</summary>
        public bool Distort { get; init; } = true;
        /// <summary>brightness_prob: the chance of a brightness shift.</summary>
        public float BrightnessProb { get; init; } = 0.5f;
        /// <summary>brightness_delta: the shift is U(-delta, delta) in 8-bit levels.</summary>
        public float BrightnessDelta { get; init; } = 32f;
        /// <summary>contrast_prob: the chance of a contrast factor.</summary>
        public float ContrastProb { get; init; } = 0.5f;
        /// <summary>contrast_lower, contrast_upper: the factor's range.</summary>
        public (float Lo, float Hi) Contrast { get; init; } = (0.5f, 1.5f);
        /// <summary>saturation_prob: the chance of a saturation factor.</summary>
        public float SaturationProb { get; init; } = 0.5f;
        /// <summary>saturation_lower, saturation_upper: the factor's range.</summary>
        public (float Lo, float Hi) Saturation { get; init; } = (0.5f, 1.5f);
        /// <summary>hue_prob: the chance of a hue shift.</summary>
        public float HueProb { get; init; } = 0.5f;
        /// <summary>hue_delta: the shift is U(-delta, delta) on OpenCV's 8-bit H (0..180).</summary>
        public float HueDelta { get; init; } = 18f;
        /// <summary>random_order_prob: the chance of a random channel order (ssd_pascal.py: 0).</summary>
        public float RandomOrderProb { get; init; }
        /// <summary>expand_param's prob: the chance of an expansion.</summary>
        public float ExpandProb { get; init; } = 0.5f;
        /// <summary>expand_param's max_expand_ratio: the canvas side is up to this many times the image's.</summary>
        public float MaxExpandRatio { get; init; } = 4f;
        /// <summary>The expansion's canvas: ssd_pascal.py's mean_value (104, 117, 123) in BGR, here R, G, B.</summary>
        public byte[] Mean { get; init; } = [123, 117, 104];
        /// <summary>transform_param's mirror: flip half of the images.</summary>
        public bool Mirror { get; init; } = true;
    }

    /// <summary>ssd_pascal.py's settings.</summary>
    public static Options Default { get; } = new();

    internal static (RgbPixels<byte> Image, LabelledBoxes Objects) Apply(RgbPixels<byte> image, LabelledBoxes objects, DrawStream rng, Options o)
    {
        if (o.Distort) Distort(image, rng, o);
        (image, objects) = Expand(image, objects, rng, o);
        var samples = GenerateBatchSamples(objects, rng, o);
        if (samples.Count > 0) (image, objects) = Crop(image, objects, samples[rng.NextInt(samples.Count)]);
        if (o.Mirror) objects = RandomMirror(image, objects, rng);
        return (image, objects);
    }

    /// <summary>ApplyDistort, in place: the order coin, then the four steps in that order, then the channel reorder.</summary>
    internal static void Distort(RgbPixels<byte> image, DrawStream rng, Options o)
    {
        var px = image.Pixels.AsSpan();
        bool contrastFirst = rng.Uniform(0f, 1f) > 0.5f;
        if (rng.Uniform(0f, 1f) < o.BrightnessProb) ConvertTo(px, 0, 1, 1f, rng.Uniform(-o.BrightnessDelta, o.BrightnessDelta));
        if (contrastFirst) Contrast(px, rng, o);
        if (rng.Uniform(0f, 1f) < o.SaturationProb) Hsv(image, 1, rng.Uniform(o.Saturation.Lo, o.Saturation.Hi), 0f);
        if (rng.Uniform(0f, 1f) < o.HueProb) Hsv(image, 0, 1f, rng.Uniform(-o.HueDelta, o.HueDelta));
        if (!contrastFirst) Contrast(px, rng, o);
        if (rng.Uniform(0f, 1f) < o.RandomOrderProb) image.PermuteChannels(rng.Permutation(3));
    }

    private static void Contrast(Span<byte> px, DrawStream rng, Options o)
    {
        if (rng.Uniform(0f, 1f) < o.ContrastProb) ConvertTo(px, 0, 1, rng.Uniform(o.Contrast.Lo, o.Contrast.Hi), 0f);
    }

    /// <summary>AdjustSaturation / AdjustHue: one HSV channel through convertTo(alpha, beta), on the HSV image.</summary>
    private static void Hsv(RgbPixels<byte> image, int channel, float alpha, float beta)
    {
        OpenCvColor.RgbToHsv(image.Pixels);
        ConvertTo(image.Pixels, channel, 3, alpha, beta);
        OpenCvColor.HsvToRgb(image.Pixels, image.Width);
    }

    /// <summary>cv::Mat::convertTo on 8-bit values from <paramref name="first"/> every <paramref name="step"/>: saturate_cast(v x alpha + beta).</summary>
    private static void ConvertTo(Span<byte> px, int first, int step, float alpha, float beta)
    {
        for (int i = first; i < px.Length; i += step)
            px[i] = (byte)Math.Clamp(MathF.Round(px[i] * alpha + beta, MidpointRounding.ToEven), 0f, 255f);
    }

    /// <summary>ExpandImage: with probability ExpandProb (and a ratio range wider than 1.01) the image on a canvas of the mean.</summary>
    internal static (RgbPixels<byte> Image, LabelledBoxes Objects) Expand(RgbPixels<byte> image, LabelledBoxes objects, DrawStream rng, Options o)
    {
        if (rng.Uniform(0f, 1f) > o.ExpandProb || MathF.Abs(o.MaxExpandRatio - 1f) < 1e-2f) return (image, objects);
        float ratio = rng.Uniform(1f, o.MaxExpandRatio);
        int w = image.Width, h = image.Height, width = (int)(w * ratio), height = (int)(h * ratio);
        int top = (int)MathF.Floor(rng.Uniform(0f, height - h)), left = (int)MathF.Floor(rng.Uniform(0f, width - w));
        return (image.Place(width, height, left, top, o.Mean), Project(objects, w, h, left, top, width, height, centre: false));
    }

    /// <summary>GenerateBatchSamples: every sampler's kept boxes (x1, y1, x2, y2 as fractions of the image), in sampler order.</summary>
    internal static List<(float X1, float Y1, float X2, float Y2)> GenerateBatchSamples(LabelledBoxes objects, DrawStream rng, Options o)
    {
        var kept = new List<(float, float, float, float)>();
        foreach (var s in o.Samplers)
            for (int trial = 0, found = 0; trial < s.MaxTrials && found < s.MaxSample; trial++)
            {
                var box = SampleBox(s, rng);
                if (Satisfies(s, box, objects)) { kept.Add(box); found++; }
            }
        return kept;
    }

    /// <summary>SampleBBox: scale and aspect drawn, the aspect held to [scale², 1 / scale²], sides at most 1, position uniform.</summary>
    internal static (float X1, float Y1, float X2, float Y2) SampleBox(Sampler s, DrawStream rng)
    {
        float scale = rng.Uniform(s.MinScale, s.MaxScale), aspect = rng.Uniform(s.MinAspect, s.MaxAspect);
        aspect = Math.Min(Math.Max(aspect, (float)Math.Pow(scale, 2.0)), (float)(1 / Math.Pow(scale, 2.0)));
        float w = Math.Min(scale * MathF.Sqrt(aspect), 1f), h = Math.Min(scale / MathF.Sqrt(aspect), 1f);
        float x = rng.Uniform(0f, 1f - w), y = rng.Uniform(0f, 1f - h);
        return (x, y, x + w, y + h);
    }

    /// <summary>SatisfySampleConstraint for a jaccard constraint: some object's overlap lies in [min, max]; no constraint: always.</summary>
    internal static bool Satisfies(Sampler s, (float X1, float Y1, float X2, float Y2) box, LabelledBoxes objects)
    {
        if (s.MinJaccard is null && s.MaxJaccard is null) return true;
        for (int g = 0; g < objects.Count; g++)
        {
            float j = Jaccard(box, objects.Corners.AsSpan(4 * g, 4));
            if (!(j < s.MinJaccard) && !(j > s.MaxJaccard)) return true;
        }
        return false;
    }

    /// <summary>bbox_util's JaccardOverlap of normalised boxes, in float.</summary>
    internal static float Jaccard((float X1, float Y1, float X2, float Y2) a, ReadOnlySpan<double> b)
    {
        float bx1 = (float)b[0], by1 = (float)b[1], bx2 = (float)b[2], by2 = (float)b[3];
        if (bx1 > a.X2 || bx2 < a.X1 || by1 > a.Y2 || by2 < a.Y1) return 0f;
        float iw = Math.Min(a.X2, bx2) - Math.Max(a.X1, bx1), ih = Math.Min(a.Y2, by2) - Math.Max(a.Y1, by1);
        float inter = iw * ih, sa = (a.X2 - a.X1) * (a.Y2 - a.Y1), sb = (bx2 - bx1) * (by2 - by1);
        return inter / (sa + sb - inter);
    }

    /// <summary>
    /// CropImage to a sampled box: the pixels from (int(x1 W), int(y1 H)), int((x2 - x1) W) x int((y2 - y1) H) of them
    /// (at least one); the objects whose centre lies in that window, projected into it and clipped, those with an area.
    /// </summary>
    internal static (RgbPixels<byte> Image, LabelledBoxes Objects) Crop(RgbPixels<byte> image, LabelledBoxes objects, (float X1, float Y1, float X2, float Y2) box)
    {
        int w = image.Width, h = image.Height;
        float sx1 = Math.Clamp(box.X1, 0f, 1f) * w, sy1 = Math.Clamp(box.Y1, 0f, 1f) * h;
        float sx2 = Math.Clamp(box.X2, 0f, 1f) * w, sy2 = Math.Clamp(box.Y2, 0f, 1f) * h;
        int left = Math.Min((int)sx1, w - 1), top = Math.Min((int)sy1, h - 1);
        int width = Math.Clamp((int)(sx2 - sx1), 1, w - left), height = Math.Clamp((int)(sy2 - sy1), 1, h - top);
        return (image.Crop(left, top, width, height), Project(objects, w, h, -left, -top, width, height, centre: true));
    }

    /// <summary>
    /// The objects (fractions of a w x h image) as fractions of a width x height frame where that image's pixel (0, 0)
    /// is at (left, top): with <paramref name="centre"/>, only those whose centre lies in the frame (bounds included);
    /// clipped to [0, 1], those with an area (ProjectBBox).
    /// </summary>
    private static LabelledBoxes Project(LabelledBoxes objects, int w, int h, int left, int top, int width, int height, bool centre)
    {
        var corners = new List<double>();
        var labels = new List<int>();
        for (int g = 0; g < objects.Count; g++)
        {
            var b = objects.Corners.AsSpan(4 * g, 4);
            float x1 = ((float)b[0] * w + left) / width, y1 = ((float)b[1] * h + top) / height;
            float x2 = ((float)b[2] * w + left) / width, y2 = ((float)b[3] * h + top) / height;
            float cx = (x1 + x2) / 2, cy = (y1 + y2) / 2;
            if (centre && !(cx >= 0f && cx <= 1f && cy >= 0f && cy <= 1f)) continue;
            (x1, y1, x2, y2) = (Math.Clamp(x1, 0f, 1f), Math.Clamp(y1, 0f, 1f), Math.Clamp(x2, 0f, 1f), Math.Clamp(y2, 0f, 1f));
            if (!(x2 > x1 && y2 > y1)) continue;
            corners.AddRange([x1, y1, x2, y2]);
            labels.Add(objects.Labels[g]);
        }
        return new LabelledBoxes([.. corners], [.. labels]);
    }

    /// <summary>transform_param's mirror: Rand(2) draws the coin; on 1 the <see cref="Mirror"/>, in place.</summary>
    internal static LabelledBoxes RandomMirror(RgbPixels<byte> image, LabelledBoxes objects, DrawStream rng) =>
        rng.NextInt(2) == 1 ? Mirror(image, objects) : objects;

    /// <summary>The mirror image, in place; x1, x2 = 1 - x2, 1 - x1.</summary>
    internal static LabelledBoxes Mirror(RgbPixels<byte> image, LabelledBoxes objects)
    {
        image.FlipHorizontal();
        var c = (double[])objects.Corners.Clone();
        for (int g = 0; g < objects.Count; g++)
            (c[4 * g], c[4 * g + 2]) = (1f - (float)c[4 * g + 2], 1f - (float)c[4 * g]);
        return objects with { Corners = c };
    }
}
