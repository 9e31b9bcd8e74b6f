using Ssd.Engine.Training.Data.Augment;
using Ssd.Engine.Training.Input;
using Ssd.Weights.Model;

namespace Ssd.Tests.Training.Data;

/// <summary>
/// <c>--augment flip</c> (<see cref="Augmentation.Flip"/>): each result is either the input as it is or its plain
/// mirror computed here (pixel x to W - 1 - x, box x1, x2 to E - x2, E - x1 with E the frame's width: pixels, or 1 for
/// Caffe's fractions), each drawn rectangle's pixels stay inside its box, about half the images flip, and the draw is
/// a pure function of (seed, epoch, index) on any thread.
/// </summary>
public class FlipAugmentTests
{
    private const int W = AugmentScene.W, H = AugmentScene.H;

    /// <summary>The scene's image and its objects in the flavour's frame (Caffe: float fractions of the image).</summary>
    private static (Ssd.Engine.Imaging.RgbImage Image, LabelledBoxes Objects) Scene(ModelFlavor flavor)
    {
        var (pixels, objects) = AugmentScene.Make<byte>();
        if (flavor == ModelFlavor.Caffe)
            objects = objects with { Corners = [.. objects.Corners.Select((v, i) => (double)(float)(v / (i % 2 == 0 ? W : H)))] };
        return (pixels.ToImage(), objects);
    }

    private static double Extent(ModelFlavor flavor) => flavor == ModelFlavor.Caffe ? 1 : W;

    private static double[] Pixels(AugmentedImage a) =>
        a.Image is { } image ? [.. image.Pixels.Select(v => (double)v)] : [.. a.FloatImage!.Pixels.Select(v => (double)v)];

    /// <summary>The test's own mirror: row by row, pixel x taken from W - 1 - x.</summary>
    private static double[] Mirror(byte[] pixels)
    {
        var m = new double[pixels.Length];
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < 3; c++)
                    m[3 * (y * W + x) + c] = pixels[3 * (y * W + (W - 1 - x)) + c];
        return m;
    }

    private static double[] MirrorBoxes(double[] corners, double extent)
    {
        var m = (double[])corners.Clone();
        for (int g = 0; g < corners.Length / 4; g++) (m[4 * g], m[4 * g + 2]) = (extent - corners[4 * g + 2], extent - corners[4 * g]);
        return m;
    }

    /// <summary>Whether the result is the mirror (true) or the input (false); fails when it is neither.</summary>
    private static bool Flipped(ModelFlavor flavor, Ssd.Engine.Imaging.RgbImage image, LabelledBoxes objects, AugmentedImage a, string at)
    {
        Assert.That((a.Width, a.Height), Is.EqualTo((W, H)), $"{at}: the size is kept");
        Assert.That(a.Objects.Labels, Is.EqualTo(objects.Labels), $"{at}: every object kept, in order");
        var pixels = Pixels(a);
        bool flipped = pixels.AsSpan().SequenceEqual(Mirror(image.Pixels));
        if (!flipped) Assert.That(pixels, Is.EqualTo(image.Pixels.Select(v => (double)v).ToArray()), $"{at}: neither the image nor its mirror");
        var expected = flipped ? MirrorBoxes(objects.Corners, Extent(flavor)) : objects.Corners;
        Assert.That(a.Objects.Corners, Is.EqualTo(expected).Within(1e-6 * Extent(flavor)), $"{at}: the boxes ({(flipped ? "mirrored" : "as they were")})");

        // Each rectangle's pixels lie exactly in its box (in pixels).
        var inPixels = a.Objects with { Corners = [.. a.Objects.Corners.Select((v, i) => flavor == ModelFlavor.Caffe ? Math.Round(v * (i % 2 == 0 ? W : H)) : v)] };
        if (a.Image is { } bytes) AugmentScene.AssertBoxesFollowPixels(new RgbPixels<byte>(W, H, bytes.Pixels), inPixels, at);
        else AugmentScene.AssertBoxesFollowPixels(a.FloatImage!, inPixels, at);
        return flipped;
    }

    [TestCase(ModelFlavor.Torchvision)]
    [TestCase(ModelFlavor.SsdPytorch)]
    [TestCase(ModelFlavor.Caffe)]
    public void EachImageIsItselfOrItsMirrorWithTheBoxesMovedAlong(ModelFlavor flavor)
    {
        var (image, objects) = Scene(flavor);
        var before = (byte[])image.Pixels.Clone();
        var flip = Augmentation.Flip(flavor);
        var parsed = Augmentation.Parse("flip", flavor);
        int flips = 0, cases = 0;
        foreach (var (seed, epoch) in new (long, long)[] { (0, 0), (7, 1), (123456789, 40) })
            for (long index = 0; index < 8; index++)
            {
                string at = $"{flavor} seed {seed} epoch {epoch} index {index}";
                var a = flip.Apply(image, objects, seed, epoch, index);
                bool flipped = Flipped(flavor, image, objects, a, at);
                flips += flipped ? 1 : 0;
                cases++;
                var again = parsed.Apply(image, objects, seed, epoch, index);
                Assert.That(Pixels(again), Is.EqualTo(Pixels(a)), $"{at}: the same draw again (--augment flip)");
                Assert.That(again.Objects.Corners, Is.EqualTo(a.Objects.Corners), $"{at}: the same boxes again");
            }
        Assert.That(image.Pixels, Is.EqualTo(before), "the input image is not modified");
        Assert.That(flips, Is.InRange(1, cases - 1), "both outcomes occur");
    }

    /// <summary>
    /// About half flip: over n = 2000 images the count is Binomial(n, 0.5), sd 22.4; the bound is 5 sd (a false
    /// failure below 1e-6). Also the same results on four threads in reverse order as on one.
    /// </summary>
    [TestCase(ModelFlavor.Torchvision)]
    [TestCase(ModelFlavor.SsdPytorch)]
    [TestCase(ModelFlavor.Caffe)]
    public void AboutHalfFlipAndTheDrawIsThePureFunctionOfSeedEpochIndex(ModelFlavor flavor)
    {
        const int n = 2000;
        var (image, objects) = Scene(flavor);
        var flip = Augmentation.Flip(flavor);
        double first = objects.Corners[0];
        bool[] Draws() => [.. Enumerable.Range(0, n).Select(i => flip.Apply(image, objects, 5, 3, i).Objects.Corners[0] != first)];
        var sequential = Draws();
        int count = sequential.Count(f => f);
        TestContext.Out.WriteLine($"{flavor}: {count} of {n} flipped");
        Assert.That(count, Is.InRange(n / 2 - 112, n / 2 + 112), "Binomial(2000, 0.5) within 5 sd");

        var parallel = new bool[n];
        Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = 4 },
            i => parallel[n - 1 - i] = flip.Apply(image, objects, 5, 3, n - 1 - i).Objects.Corners[0] != first);
        Assert.That(parallel, Is.EqualTo(sequential), "the same draws on four threads, in reverse order");
        var otherEpoch = Enumerable.Range(0, n).Select(i => flip.Apply(image, objects, 5, 4, i).Objects.Corners[0] != first).ToArray();
        int differ = Enumerable.Range(0, n).Count(i => otherEpoch[i] != sequential[i]);
        Assert.That(differ, Is.InRange(n / 2 - 112, n / 2 + 112), "another epoch draws independent coins");
    }

    [Test]
    public void AnUnknownNameIsRefusedNamingTheChoices()
    {
        var e = Assert.Throws<ArgumentException>(() => Augmentation.Parse("bogus", ModelFlavor.Torchvision));
        Assert.That(e!.Message, Does.Contain("bogus").And.Contain("flip"));
        Assert.That(Augmentation.Names, Is.EqualTo(new[] { "none", "ssd", "flip" }));
    }
}
