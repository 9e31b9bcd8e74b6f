using Ssd.Engine.Imaging;
using Ssd.Engine.Training.Data;
using Ssd.Engine.Training.Data.Augment;
using Ssd.Engine.Training.Input;
using Ssd.Weights.Model;

namespace Ssd.Tests.Training.Data;

/// <summary>ssd.pytorch's SSDAugmentation: boxes follow their pixels, the crop's IoU check works, empty images, purity.</summary>
public class SsdPytorchAugmentTests
{
    private const int W = AugmentScene.W, H = AugmentScene.H;

    private static (RgbPixels<float> Image, LabelledBoxes Objects) Scene() => AugmentScene.Make<float>();

    private static void AssertBoxesFollowPixels(RgbPixels<float> image, LabelledBoxes objects, string at) => AugmentScene.AssertBoxesFollowPixels(image, objects, at);

    [Test]
    public void BoxesFollowTheirPixelsUnderExpandCropMirrorAndTheirComposition()
    {
        var (scene, objects) = Scene();
        RgbPixels<float> Copy() => new(W, H, (float[])scene.Pixels.Clone());
        int expanded = 0, cropped = 0, mirrored = 0;
        for (int index = 0; index < 120; index++)
        {
            var (ei, eo) = SsdPytorchAugment.Expand(Copy(), objects, DrawStream.ForImage(1, 0, index));
            AssertBoxesFollowPixels(ei, eo, $"expand {index}");
            expanded += ei.Width != W ? 1 : 0;
            var (ci, co) = SsdPytorchAugment.RandomSampleCrop(Copy(), objects, DrawStream.ForImage(1, 1, index));
            AssertBoxesFollowPixels(ci, co, $"crop {index}");
            cropped += ci.Width != W || ci.Height != H ? 1 : 0;
            var mi = Copy();
            var mo = SsdPytorchAugment.RandomMirror(mi, objects, DrawStream.ForImage(1, 2, index));
            AssertBoxesFollowPixels(mi, mo, $"mirror {index}");
            mirrored += mo.Corners[0] != objects.Corners[0] ? 1 : 0;
            var draws = DrawStream.ForImage(1, 3, index);
            var (i1, o1) = SsdPytorchAugment.Expand(Copy(), objects, draws);
            var (i2, o2) = SsdPytorchAugment.RandomSampleCrop(i1, o1, draws);
            var o3 = SsdPytorchAugment.RandomMirror(i2, o2, draws);
            AssertBoxesFollowPixels(i2, o3, $"composition {index}");
        }
        Assert.Multiple(() =>
        {
            Assert.That(expanded, Is.InRange(35, 85));
            Assert.That(cropped, Is.GreaterThan(60));
            Assert.That(mirrored, Is.InRange(35, 85));
        });
    }

    [TestCase(0.1)]
    [TestCase(0.3)]
    [TestCase(0.7)]
    [TestCase(0.9)]
    public void TheCropMeetsItsMinimumIoU(double min)
    {
        var objects = new LabelledBoxes([10, 8, 80, 60, 50, 30, 90, 70, 5, 40, 30, 70], [1, 2, 3]);
        (double, double)?[] options = [(min, double.PositiveInfinity)];
        int found = 0;
        for (int index = 0; index < 60; index++)
        {
            if (SsdPytorchAugment.SampleWindow(W, H, objects, DrawStream.ForImage(2, 0, index), options) is not { } r) continue;
            found++;
            Assert.That(r.X1 >= 0 && r.Y1 >= 0 && r.X2 <= W && r.Y2 <= H, $"window {r} inside the image");
            double best = 0;
            for (int g = 0; g < objects.Count; g++)
            {
                var b = objects.Corners.AsSpan(4 * g, 4);
                double iw = Math.Max(0, Math.Min(b[2], r.X2) - Math.Max(b[0], r.X1)), ih = Math.Max(0, Math.Min(b[3], r.Y2) - Math.Max(b[1], r.Y1));
                best = Math.Max(best, iw * ih / ((b[2] - b[0]) * (b[3] - b[1]) + (double)(r.X2 - r.X1) * (r.Y2 - r.Y1) - iw * ih));
            }
            Assert.That(best, Is.GreaterThanOrEqualTo(min), $"window {r}: ssd.pytorch's check never rejected; this one does");
        }
        Assert.That(found, Is.EqualTo(60));
    }

    [Test]
    public void ImagesWithoutBoxesTrainUncroppedAndTheEntryPointGivesTheFlavoursInput()
    {
        var image = new RgbImage(W, H);
        var augment = Augmentation.Create(ModelFlavor.SsdPytorch);
        var spec = TrainingInputTests.SsdPytorchSpec;
        var input = new float[3 * 300 * 300];
        for (int index = 0; index < 30; index++)
        {
            var a = augment.Apply(image, LabelledBoxes.Empty, 4, 0, index);
            Assert.That(a.Objects.Count, Is.Zero);
            Assert.That(a.Width, Is.GreaterThanOrEqualTo(W), "never cropped without boxes");
            a.WriteInput(ModelFlavor.SsdPytorch, spec, input);
            Assert.That(input.All(float.IsFinite));
            Assert.That(a.Truth(ModelFlavor.SsdPytorch, spec).Labels, Is.Empty);
        }
    }

}
