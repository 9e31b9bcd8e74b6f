using Ssd.Engine.Training.Data;
using Ssd.Engine.Training.Data.Augment;
using Ssd.Engine.Training.Input;
using Ssd.Weights.Model;

namespace Ssd.Tests.Training.Data;

/// <summary>
/// Caffe SSD's augmentation (distortion, expansion, batch samplers, emit constraint, mirror): boxes follow their pixels,
/// every sampler meets its scale, aspect and jaccard bounds, one of the successful samples is picked uniformly,
/// the random parameters' distributions, the colour steps' arithmetic, empty images, purity.
/// </summary>
public class CaffeAugmentTests
{
    private const int W = AugmentScene.W, H = AugmentScene.H;
    private static readonly CaffeAugment.Options NoColour = CaffeAugment.Default with { Distort = false };

    /// <summary>The scene with its boxes as Caffe's fractions of the image (float).</summary>
    private static (RgbPixels<byte> Image, LabelledBoxes Objects) Scene()
    {
        var (image, objects) = AugmentScene.Make<byte>();
        var c = objects.Corners.Select((v, i) => (double)((float)v / (i % 2 == 0 ? W : H))).ToArray();
        return (image, objects with { Corners = c });
    }

    private static RgbPixels<byte> Copy(RgbPixels<byte> image) => new(image.Width, image.Height, (byte[])image.Pixels.Clone());

    /// <summary>Fractions back to pixels: they must land on whole pixels (to float rounding), which must bound their colour.</summary>
    private static void AssertBoxesFollowPixels(RgbPixels<byte> image, LabelledBoxes objects, string at)
    {
        var pixels = new double[objects.Corners.Length];
        for (int i = 0; i < pixels.Length; i++)
        {
            double p = objects.Corners[i] * (i % 2 == 0 ? image.Width : image.Height);
            Assert.That(p, Is.EqualTo(Math.Round(p)).Within(2e-3), $"{at}: corner {i} on a pixel edge");
            pixels[i] = Math.Round(p);
        }
        AugmentScene.AssertBoxesFollowPixels(image, objects with { Corners = pixels }, at);
    }

    [Test]
    public void BoxesFollowTheirPixelsUnderExpandCropMirrorAndTheChain()
    {
        var (scene, objects) = Scene();
        int expanded = 0, cropped = 0, dropped = 0;
        for (int index = 0; index < 120; index++)
        {
            var (ei, eo) = CaffeAugment.Expand(Copy(scene), objects, DrawStream.ForImage(1, 0, index), NoColour);
            AssertBoxesFollowPixels(ei, eo, $"expand {index}");
            expanded += ei.Width != W ? 1 : 0;
            var draws = DrawStream.ForImage(1, 1, index);
            var samples = CaffeAugment.GenerateBatchSamples(objects, draws, NoColour);
            var (ci, co) = CaffeAugment.Crop(Copy(scene), objects, samples[draws.NextInt(samples.Count)]);
            AssertBoxesFollowPixels(ci, co, $"crop {index}");
            cropped += ci.Width != W || ci.Height != H ? 1 : 0;
            dropped += objects.Count - co.Count;
            var mi = Copy(scene);
            AssertBoxesFollowPixels(mi, CaffeAugment.Mirror(mi, objects), $"mirror {index}");
            var (ai, ao) = CaffeAugment.Apply(Copy(scene), objects, DrawStream.ForImage(1, 2, index), NoColour);
            AssertBoxesFollowPixels(ai, ao, $"chain {index}");
        }
        Assert.Multiple(() =>
        {
            Assert.That(expanded, Is.InRange(35, 85), "expansions of 120");
            Assert.That(cropped, Is.GreaterThan(60), "crops of 120");
            Assert.That(dropped, Is.GreaterThan(0), "objects whose centre left the crop");
        });
    }

    [Test]
    public void EverySamplerMeetsItsScaleAspectAndJaccardBounds()
    {
        var objects = new LabelledBoxes([0.1, 0.1, 0.8, 0.8, 0.5, 0.4, 0.95, 0.9, 0.05, 0.5, 0.3, 0.95], [1, 2, 3]);
        foreach (var s in CaffeAugment.Default.Samplers.Skip(1))
        {
            var one = CaffeAugment.Default with { Samplers = [s] };
            int found = 0;
            for (int index = 0; index < 100; index++)
                foreach (var b in CaffeAugment.GenerateBatchSamples(objects, DrawStream.ForImage(2, 0, index), one))
                {
                    found++;
                    float w = b.X2 - b.X1, h = b.Y2 - b.Y1;
                    Assert.That(b.X1 >= 0 && b.Y1 >= 0 && b.X2 <= 1 + 1e-6 && b.Y2 <= 1 + 1e-6, $"{s}: {b} inside the image");
                    Assert.That(Math.Sqrt(w * h), Is.InRange(s.MinScale - 1e-5, s.MaxScale + 1e-5), $"{s}: scale of {b}");
                    Assert.That(w / h, Is.InRange(s.MinAspect - 1e-4, s.MaxAspect + 1e-4), $"{s}: aspect of {b}");
                    double best = Enumerable.Range(0, objects.Count).Max(g => Iou(b, objects.Corners.AsSpan(4 * g, 4)));
                    double worst = Enumerable.Range(0, objects.Count).Min(g => Iou(b, objects.Corners.AsSpan(4 * g, 4)));
                    if (s.MinJaccard is { } min) Assert.That(best, Is.GreaterThanOrEqualTo(min - 1e-6), $"{s}: best jaccard of {b}");
                    if (s.MaxJaccard is { } max) Assert.That(worst, Is.LessThanOrEqualTo(max + 1e-6), $"{s}: some object's jaccard of {b}");
                }
            Assert.That(found, Is.InRange(s.MinJaccard >= 0.9f ? 1 : s.MinJaccard >= 0.7f ? 5 : 50, 100), $"{s}: samples found in 100 images");
        }
    }

    private static double Iou((float X1, float Y1, float X2, float Y2) a, ReadOnlySpan<double> b)
    {
        double iw = Math.Max(0, Math.Min(a.X2, b[2]) - Math.Max(a.X1, b[0])), ih = Math.Max(0, Math.Min(a.Y2, b[3]) - Math.Max(a.Y1, b[1]));
        double inter = iw * ih;
        return inter / ((double)(a.X2 - a.X1) * (a.Y2 - a.Y1) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
    }

    [Test]
    public void OneOfTheSuccessfulSamplesIsPickedUniformly()
    {
        // The whole-image sampler always succeeds and comes first: it is picked with probability 1 / (samples found).
        var (scene, objects) = Scene();
        double expected = 0, variance = 0;
        int whole = 0, n = 3000;
        for (int index = 0; index < n; index++)
        {
            var draws = DrawStream.ForImage(3, 0, index);
            var samples = CaffeAugment.GenerateBatchSamples(objects, draws, NoColour);
            Assert.That(samples[0], Is.EqualTo((0f, 0f, 1f, 1f)), "the first sampler's box is the whole image");
            double p = 1.0 / samples.Count;
            (expected, variance) = (expected + p, variance + p * (1 - p));
            whole += draws.NextInt(samples.Count) == 0 ? 1 : 0;
        }
        Assert.That(whole, Is.InRange(expected - 3.3 * Math.Sqrt(variance), expected + 3.3 * Math.Sqrt(variance)), "whole-image picks");
        Assert.That(expected / n, Is.LessThan(0.5), "images find more than the whole-image sample");
    }

    [Test]
    public void ExpansionFollowsItsProbabilityAndRatioDistribution()
    {
        var small = new RgbPixels<byte>(8, 8, new byte[192]);
        int expanded = 0;
        var ratios = new List<double>();
        for (int i = 0; i < 4000; i++)
        {
            var d = DrawStream.ForImage(4, 0, i);
            bool expand = !(d.Uniform(0f, 1f) > 0.5f);
            float r = d.Uniform(1f, 4f);
            var (e, _) = CaffeAugment.Expand(small, LabelledBoxes.Empty, DrawStream.ForImage(4, 0, i), CaffeAugment.Default);
            Assert.That(e.Width, Is.EqualTo(expand ? (int)(8 * r) : 8), $"image {i}");
            if (expand) { expanded++; ratios.Add(r); }
        }
        Assert.That(expanded, Is.InRange(2000 - 3.3 * 32, 2000 + 3.3 * 32), "expansions of 4000");
        var sorted = ratios.Order().Select(r => (r - 1) / 3).ToArray();
        double ks = sorted.Select((v, i) => Math.Max(Math.Abs((i + 1.0) / sorted.Length - v), Math.Abs(v - (double)i / sorted.Length))).Max();
        Assert.That(ks, Is.LessThan(1.95 / Math.Sqrt(sorted.Length)), "expansion ratio against U(1, 4)");
    }

    [Test]
    public void BrightnessAndContrastAreOpenCvsSaturatingConvertTo()
    {
        var (scene, _) = Scene();
        var only = CaffeAugment.Default with { BrightnessProb = 1, ContrastProb = 1, SaturationProb = 0, HueProb = 0 };
        for (int index = 0; index < 10; index++)
        {
            var image = Copy(scene);
            CaffeAugment.Distort(image, DrawStream.ForImage(5, 0, index), only);
            // The same draws by hand: the order coin, brightness (prob, delta), contrast (prob, alpha) before the HSV
            // steps' probability draws or after them.
            var d = DrawStream.ForImage(5, 0, index);
            bool contrastFirst = d.Uniform(0f, 1f) > 0.5f;
            d.Uniform(0f, 1f);
            float delta = d.Uniform(-32f, 32f);
            if (!contrastFirst) { d.Uniform(0f, 1f); d.Uniform(0f, 1f); }
            d.Uniform(0f, 1f);
            float alpha = d.Uniform(0.5f, 1.5f);
            for (int i = 0; i < image.Pixels.Length; i += 97)
            {
                // saturate_cast<uchar>(v * alpha + beta) in float: cvRound (ties to even), clamped to 0..255.
                float v = Math.Clamp(MathF.Round(scene.Pixels[i] * 1f + delta, MidpointRounding.ToEven), 0f, 255f);
                v = Math.Clamp(MathF.Round(v * alpha + 0f, MidpointRounding.ToEven), 0f, 255f);
                Assert.That(image.Pixels[i], Is.EqualTo((byte)v), $"image {index}, value {i}");
            }
            Assert.That(image.Pixels, Is.Not.EqualTo(scene.Pixels), $"image {index} changed");
        }
    }

    [Test]
    public void DistortionKeepsTheSizeAndChangesColours()
    {
        var (scene, _) = Scene();
        int changed = 0;
        for (int index = 0; index < 20; index++)
        {
            var image = Copy(scene);
            CaffeAugment.Distort(image, DrawStream.ForImage(6, 0, index), CaffeAugment.Default);
            Assert.That((image.Width, image.Height), Is.EqualTo((W, H)));
            changed += image.Pixels.AsSpan().SequenceEqual(scene.Pixels) ? 0 : 1;
        }
        Assert.That(changed, Is.GreaterThan(12));
    }

    [Test]
    public void ImagesWithoutBoxesAreNeverCroppedAndStayEmpty()
    {
        var (scene, _) = Scene();
        var augment = Augmentation.Parse("ssd", ModelFlavor.Caffe);
        for (int index = 0; index < 40; index++)
        {
            Assert.That(CaffeAugment.GenerateBatchSamples(LabelledBoxes.Empty, DrawStream.ForImage(7, 0, index), CaffeAugment.Default),
                Is.EqualTo(new[] { (0f, 0f, 1f, 1f) }), "only the whole-image sampler succeeds");
            var a = augment.Apply(scene.ToImage(), LabelledBoxes.Empty, 7, 1, index);
            Assert.That(a.Objects.Count, Is.Zero);
            Assert.That(a.Image!.Width, Is.GreaterThanOrEqualTo(W));
        }
    }

}
