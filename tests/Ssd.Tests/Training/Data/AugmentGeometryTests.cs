using Ssd.Engine.Imaging;
using Ssd.Engine.Training.Data;
using Ssd.Engine.Training.Data.Augment;
using Ssd.Engine.Training.Input;
using Ssd.Weights.Model;

namespace Ssd.Tests.Training.Data;

/// <summary>
/// Properties of the augmentation that need no peer: a drawn box's pixels move with its box under every geometric step
/// and their composition, each crop mode meets its IoU bound, images without boxes and boxes that leave the crop, the
/// random parameters' distributions, and the purity of an image's augmentation in (seed, epoch, index).
/// </summary>
public class AugmentGeometryTests
{
    private const int W = AugmentScene.W, H = AugmentScene.H;
    private static readonly TorchvisionAugment.Options NoColour = TorchvisionAugment.Default with { PhotometricP = 0 };

    private static (RgbPixels<byte> Image, LabelledBoxes Objects) Scene() => AugmentScene.Make<byte>();

    private static void AssertBoxesFollowPixels(RgbPixels<byte> image, LabelledBoxes objects, string at) => AugmentScene.AssertBoxesFollowPixels(image, objects, at);

    [Test]
    public void BoxesFollowTheirPixelsUnderEveryStepAndTheChain()
    {
        var (scene, objects) = Scene();
        int zoomed = 0, cropped = 0, flipped = 0, dropped = 0;
        for (int index = 0; index < 150; index++)
        {
            RgbPixels<byte> Copy() => new(scene.Width, scene.Height, (byte[])scene.Pixels.Clone());
            var (zi, zo) = TorchvisionAugment.ZoomOut(Copy(), objects, DrawStream.ForImage(3, 0, index), NoColour);
            AssertBoxesFollowPixels(zi, zo, $"zoom-out {index}");
            zoomed += zi.Width != W ? 1 : 0;
            var (ci, co) = TorchvisionAugment.IoUCrop(Copy(), objects, DrawStream.ForImage(3, 1, index), NoColour);
            AssertBoxesFollowPixels(ci, co, $"crop {index}");
            cropped += ci.Width != W || ci.Height != H ? 1 : 0;
            dropped += objects.Count - co.Count;
            var fi = Copy();
            var fo = TorchvisionAugment.HorizontalFlip(fi, objects, DrawStream.ForImage(3, 2, index), NoColour);
            AssertBoxesFollowPixels(fi, fo, $"flip {index}");
            flipped += fo.Corners[0] != objects.Corners[0] ? 1 : 0;
            var (ai, ao) = TorchvisionAugment.Apply(Copy(), objects, DrawStream.ForImage(3, 3, index), NoColour);
            AssertBoxesFollowPixels(ai, ao, $"chain {index}");
        }
        Assert.Multiple(() =>
        {
            Assert.That(zoomed, Is.InRange(50, 100), "zoom-outs of 150");
            Assert.That(cropped, Is.GreaterThan(80), "crops of 150");
            Assert.That(flipped, Is.InRange(50, 100), "flips of 150");
            Assert.That(dropped, Is.GreaterThan(0), "boxes left out by crops");
        });
    }

    [Test]
    public void PhotometricDistortionKeepsSizeAndBoxesAndChangesColours()
    {
        var (scene, objects) = Scene();
        int changed = 0;
        for (int index = 0; index < 20; index++)
        {
            var image = new RgbPixels<byte>(scene.Width, scene.Height, (byte[])scene.Pixels.Clone());
            TorchvisionAugment.PhotometricDistort(image, DrawStream.ForImage(4, 0, index), TorchvisionAugment.Default);
            Assert.That((image.Width, image.Height), Is.EqualTo((W, H)));
            changed += image.Pixels.AsSpan().SequenceEqual(scene.Pixels) ? 0 : 1;
        }
        Assert.That(changed, Is.GreaterThan(10));
    }

    [TestCase(0.0)]
    [TestCase(0.1)]
    [TestCase(0.3)]
    [TestCase(0.5)]
    [TestCase(0.7)]
    [TestCase(0.9)]
    public void EveryCropModeMeetsItsIoUBoundScaleAndAspect(double mode)
    {
        // Boxes large enough for every mode: a window is 0.3 to 1 of each side.
        var objects = new LabelledBoxes([10, 8, 80, 60, 50, 30, 90, 70, 5, 40, 30, 70], [1, 2, 3]);
        var o = TorchvisionAugment.Default with { CropOptions = [mode] };
        int found = 0;
        for (int index = 0; index < 100; index++)
        {
            if (TorchvisionAugment.SampleCrop(W, H, objects, DrawStream.ForImage(5, 0, index), o) is not { } crop) continue;
            found++;
            var (l, t, w, h) = crop;
            Assert.That(w, Is.InRange((int)(0.3 * W), W));
            Assert.That(h, Is.InRange((int)(0.3 * H), H));
            Assert.That((double)w / h, Is.InRange(0.5, 2.0));
            Assert.That(l >= 0 && t >= 0 && l + w <= W && t + h <= H, $"crop {crop} inside the image");
            double best = -1;
            for (int g = 0; g < objects.Count; g++)
            {
                var b = objects.Corners.AsSpan(4 * g, 4);
                double cx = (b[0] + b[2]) / 2, cy = (b[1] + b[3]) / 2;
                if (!(l < cx && cx < l + w && t < cy && cy < t + h)) continue;
                double iw = Math.Max(0, Math.Min(b[2], l + w) - Math.Max(b[0], l)), ih = Math.Max(0, Math.Min(b[3], t + h) - Math.Max(b[1], t));
                double inter = iw * ih;
                best = Math.Max(best, inter / ((b[2] - b[0]) * (b[3] - b[1]) + (double)w * h - inter));
            }
            Assert.That(best, Is.GreaterThanOrEqualTo(mode - 1e-6), $"crop {crop}: best IoU of a box whose centre is inside");
        }
        Assert.That(found, Is.EqualTo(100), $"crops found in 100 images at minimum IoU {mode}");
    }

    [Test]
    public void ACropThatNoBoxCanServeLeavesTheImageAsItIs()
    {
        var (scene, objects) = Scene();
        var o = TorchvisionAugment.Default with { CropOptions = [0.99] };   // windows are at least 0.3 of the image
        Assert.That(TorchvisionAugment.SampleCrop(W, H, objects, DrawStream.ForImage(6, 0, 0), o), Is.Null);
    }

    [Test]
    public void ImagesWithoutBoxesAreNeverCroppedAndStayEmpty()
    {
        var (scene, _) = Scene();
        var augment = Augmentation.Create(ModelFlavor.Torchvision);
        for (int index = 0; index < 40; index++)
        {
            var crop = TorchvisionAugment.IoUCrop(scene, LabelledBoxes.Empty, DrawStream.ForImage(7, 0, index), TorchvisionAugment.Default);
            Assert.That(crop.Item1, Is.SameAs(scene));
            var a = augment.Apply(scene.ToImage(), LabelledBoxes.Empty, 7, 1, index);
            Assert.That(a.Objects.Count, Is.Zero);
            Assert.That(a.Image!.Width, Is.GreaterThanOrEqualTo(W));
        }
    }

    [Test]
    public void BoxesThatLeaveTheCropAreDroppedOrClampedInsideIt()
    {
        var (scene, objects) = Scene();
        var augment = Augmentation.Create(ModelFlavor.Torchvision);
        int kept = 0;
        for (int index = 0; index < 100; index++)
        {
            var a = augment.Apply(scene.ToImage(), objects, 8, 0, index);
            for (int g = 0; g < a.Objects.Count; g++)
            {
                var b = a.Objects.Corners.AsSpan(4 * g, 4);
                Assert.That(b[0] >= 0 && b[1] >= 0 && b[2] <= a.Image!.Width && b[3] <= a.Image!.Height, $"image {index}: box inside the image");
                Assert.That(b[2] > b[0] && b[3] > b[1], $"image {index}: box keeps an area");
                kept++;
            }
        }
        Assert.That(kept, Is.GreaterThan(100));
    }

    [Test]
    public void RandomParametersFollowTheirDistributions()
    {
        // Fixed streams: the statistics are deterministic, the bounds are the 0.1% tails.
        const int n = 7000;
        var counts = new int[7];
        var draws = new DrawStream(99, DrawPurpose.Augment, 0, 0);
        for (int i = 0; i < n; i++) counts[draws.NextInt(7)]++;
        double chi = counts.Sum(c => (c - n / 7.0) * (c - n / 7.0) / (n / 7.0));
        Assert.That(chi, Is.LessThan(22.46), "chi-square of the crop option (6 degrees of freedom)");

        var u = Enumerable.Range(0, n).Select(_ => (double)draws.NextFloat()).Order().ToArray();
        double ks = u.Select((v, i) => Math.Max(Math.Abs((i + 1.0) / n - v), Math.Abs(v - (double)i / n))).Max();
        Assert.That(ks, Is.LessThan(1.95 / Math.Sqrt(n)), "Kolmogorov-Smirnov distance of the uniform floats");

        // Zoom-out: probability 0.5, side ratio uniform on [1, 4).
        var (scene, objects) = Scene();
        var small = new RgbPixels<byte>(8, 8, new byte[192]);
        int zoomed = 0;
        var ratios = new List<double>();
        for (int i = 0; i < 4000; i++)
        {
            var d = DrawStream.ForImage(12, 0, i);
            bool zoom = d.NextFloat() < 0.5f;
            float r = 1f + d.NextFloat() * 3f;
            var (z, _) = TorchvisionAugment.ZoomOut(small, LabelledBoxes.Empty, DrawStream.ForImage(12, 0, i), TorchvisionAugment.Default);
            Assert.That(z.Width, Is.EqualTo(zoom ? (int)(8 * r) : 8), $"image {i}");
            if (zoom) { zoomed++; ratios.Add(r); }
        }
        Assert.That(zoomed, Is.InRange(2000 - 3 * 32, 2000 + 3 * 32 * 1.1), "zoom-outs of 4000 (3.3 sigma)");
        var sorted = ratios.Order().Select(r => (r - 1) / 3).ToArray();
        double ksz = sorted.Select((v, i) => Math.Max(Math.Abs((i + 1.0) / sorted.Length - v), Math.Abs(v - (double)i / sorted.Length))).Max();
        Assert.That(ksz, Is.LessThan(1.95 / Math.Sqrt(sorted.Length)), "zoom-out ratio against U(1, 4)");
    }
}
