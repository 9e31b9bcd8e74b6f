using Ssd.Engine.Training.Data;
using Ssd.Engine.Training.Data.Augment;
using Ssd.Weights.Model;

namespace Ssd.Tests.Training.Data;

/// <summary>Every flavour's augmentation is a pure function of (seed, epoch, index): the same on any thread.</summary>
public class AugmentationPurityTests
{
    private static Array Pixels(AugmentedImage a) => a.Image is { } image ? image.Pixels : a.FloatImage!.Pixels;
    private static int Width(AugmentedImage a) => a.Image?.Width ?? a.FloatImage!.Width;
    private static int Height(AugmentedImage a) => a.Image?.Height ?? a.FloatImage!.Height;

    [TestCase(ModelFlavor.Torchvision)]
    [TestCase(ModelFlavor.SsdPytorch)]
    [TestCase(ModelFlavor.Caffe)]
    public void AnImagesAugmentationIsAPureFunctionOfSeedEpochIndex(ModelFlavor flavor)
    {
        const int n = 48;
        var (scene, objects) = AugmentScene.Make<byte>();
        var image = scene.ToImage();
        var before = (byte[])image.Pixels.Clone();
        var augment = Augmentation.Create(flavor);
        var sequential = Enumerable.Range(0, n).Select(i => augment.Apply(image, objects, 11, 2, i)).ToArray();
        var parallel = new AugmentedImage[n];
        Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = 4 },
            i => parallel[n - 1 - i] = augment.Apply(image, objects, 11, 2, n - 1 - i));
        for (int i = 0; i < n; i++)
        {
            Assert.That(Pixels(parallel[i]), Is.EqualTo(Pixels(sequential[i])), $"image {i}");
            Assert.That(parallel[i].Objects.Corners, Is.EqualTo(sequential[i].Objects.Corners), $"image {i}");
            // Caffe's boxes are fractions of the image, the others' are pixels of the augmented image.
            double extent = flavor == ModelFlavor.Caffe ? 1 : Math.Max(Width(sequential[i]), Height(sequential[i]));
            foreach (var corner in sequential[i].Objects.Corners)
                Assert.That(corner, Is.InRange(0.0, extent), $"image {i}: inside the image");
        }
        Assert.That(image.Pixels, Is.EqualTo(before), "the input image is not modified");
        int differ = Enumerable.Range(0, n).Count(i => !((System.Collections.IStructuralEquatable)Pixels(augment.Apply(image, objects, 11, 3, i)))
            .Equals(Pixels(sequential[i]), EqualityComparer<object>.Default));
        Assert.That(differ, Is.GreaterThan(n * 3 / 4), "another epoch draws another augmentation");
    }
}
