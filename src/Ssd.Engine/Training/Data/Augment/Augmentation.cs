using Ssd.Engine.Imaging;
using Ssd.Engine.Training.Input;
using Ssd.Engine.Training.Loss;
using Ssd.Weights.Model;

namespace Ssd.Engine.Training.Data.Augment;

/// <summary>
/// An augmented image and its objects in the flavour's frame (<see cref="TrainingInput.Objects"/>). The pixels are
/// 8-bit (<see cref="Image"/>: torchvision's PIL image, no augmentation) or float (<see cref="FloatImage"/>:
/// ssd.pytorch's unclipped float image); <see cref="WriteInput"/> and <see cref="Truth"/> do the flavour's resize.
/// </summary>
public sealed class AugmentedImage
{
    /// <summary>The 8-bit image, or null when the augmentation produced a float one.</summary>
    public RgbImage? Image { get; }
    /// <summary>The float image (ssd.pytorch's augmentation), or null.</summary>
    public RgbPixels<float>? FloatImage { get; }
    /// <summary>The objects in the flavour's frame, after the augmentation moved, cropped or dropped them.</summary>
    public LabelledBoxes Objects { get; }
    /// <summary>The image width in pixels.</summary>
    public int Width => Image?.Width ?? FloatImage!.Width;
    /// <summary>The image height in pixels.</summary>
    public int Height => Image?.Height ?? FloatImage!.Height;

    /// <summary>An 8-bit result.</summary>
    /// <param name="image">The pixels.</param>
    /// <param name="objects">The objects in the flavour's frame.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public AugmentedImage(RgbImage image, LabelledBoxes objects)
    {
        Image = image ?? throw new ArgumentNullException(nameof(image));
        Objects = objects ?? throw new ArgumentNullException(nameof(objects));
    }

    /// <summary>A float result (ssd.pytorch).</summary>
    /// <param name="image">The pixels.</param>
    /// <param name="objects">The objects in the flavour's frame.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public AugmentedImage(RgbPixels<float> image, LabelledBoxes objects)
    {
        FloatImage = image ?? throw new ArgumentNullException(nameof(image));
        Objects = objects ?? throw new ArgumentNullException(nameof(objects));
    }

    /// <summary>The network input [3, H, W] of the flavour (<see cref="TrainingInput.Image"/> / <see cref="TrainingInput.SsdPytorchImage"/>).</summary>
    public void WriteInput(ModelFlavor flavor, InputSpec spec, Span<float> output)
    {
        if (Image is not null) { TrainingInput.Image(flavor, spec, Image, output); return; }
        if (flavor != ModelFlavor.SsdPytorch) throw new InvalidOperationException($"augmentation: a float image is ssd.pytorch's, not {flavor}'s input");
        TrainingInput.SsdPytorchImage(spec, FloatImage!.Pixels, Width, Height, output);
    }

    /// <summary>The loss's ground truth (<see cref="TrainingInput.Finish"/>).</summary>
    public GroundTruth Truth(ModelFlavor flavor, InputSpec spec) => TrainingInput.Finish(flavor, spec, Width, Height, Objects);
}

/// <summary>
/// A training-time augmentation of one image: a pure function of the image, its objects and (seed, epoch, index),
/// whatever thread runs it and in whatever order. The objects come and go in the flavour's frame: take them from
/// <see cref="TrainingInput.Objects"/>; the result's <see cref="AugmentedImage.WriteInput"/> and
/// <see cref="AugmentedImage.Truth"/> give the network input and the loss's ground truth. Implementations are
/// stateless and safe to call from several threads at once; the input image is not modified.
/// </summary>
public interface IAugmentation
{
    /// <summary>Augments one image.</summary>
    /// <param name="image">The decoded image (not modified).</param>
    /// <param name="objects">Its objects in the flavour's frame.</param>
    /// <param name="seed">The run's seed.</param>
    /// <param name="epoch">The epoch the image is drawn in.</param>
    /// <param name="index">The image's index in the data set.</param>
    /// <returns>The augmented image and objects: the same for the same (seed, epoch, index).</returns>
    AugmentedImage Apply(RgbImage image, LabelledBoxes objects, long seed, long epoch, long index);
}

/// <summary>The augmentations by name (<c>--augment none|ssd|flip</c>) and flavour.</summary>
public static class Augmentation
{
    /// <summary>The names <see cref="Parse"/> takes: none, ssd, flip.</summary>
    public static IReadOnlyList<string> Names { get; } = ["none", "ssd", "flip"];

    /// <summary>No augmentation: the image and its objects as they are.</summary>
    public static IAugmentation None { get; } = new NoAugmentation();

    /// <summary>
    /// The paper's augmentation (section 2.2) in the flavour's own variant: torchvision's detection reference
    /// (<see cref="TorchvisionAugment"/>, with <paramref name="torchvision"/>'s settings, default the reference's),
    /// ssd.pytorch's SSDAugmentation (<see cref="SsdPytorchAugment"/>), Caffe SSD's distortion, expansion and batch
    /// samplers (<see cref="CaffeAugment"/>, with <paramref name="caffe"/>'s settings, default ssd_pascal.py's).
    /// </summary>
    public static IAugmentation Create(ModelFlavor flavor, TorchvisionAugment.Options? torchvision = null, CaffeAugment.Options? caffe = null) => flavor switch
    {
        ModelFlavor.Torchvision => new Torchvision(torchvision ?? TorchvisionAugment.Default),
        ModelFlavor.SsdPytorch => new SsdPytorch(),
        ModelFlavor.Caffe => new Caffe(caffe ?? CaffeAugment.Default),
        _ => throw new ArgumentException($"augmentation: unknown flavour {flavor}"),
    };

    /// <summary>
    /// A random horizontal flip with probability 0.5 and nothing else (no colour, zoom-out or crop; the recipe of
    /// tools/example/train_example.py): the flavour's own flip step in its own frame (<see cref="TrainingInput.Objects"/>),
    /// pixels mirrored and x1, x2 = W - x2, W - x1 (Caffe's fractions: 1 - x2, 1 - x1). The coin is that step's own
    /// draw, the first of the image's <see cref="DrawStream"/>: torchvision's RandomHorizontalFlip (rand &lt; 0.5),
    /// ssd.pytorch's RandomMirror (randint(2)), Caffe's mirror (Rand(2)).
    /// </summary>
    public static IAugmentation Flip(ModelFlavor flavor) => flavor switch
    {
        ModelFlavor.Torchvision or ModelFlavor.SsdPytorch or ModelFlavor.Caffe => new FlipOnly(flavor),
        _ => throw new ArgumentException($"augmentation: unknown flavour {flavor}"),
    };

    /// <summary><c>none</c>, <c>ssd</c> (the flavour's <see cref="Create"/>) or <c>flip</c> (<see cref="Flip"/>).</summary>
    public static IAugmentation Parse(string name, ModelFlavor flavor) => name switch
    {
        "none" => None,
        "ssd" => Create(flavor),
        "flip" => Flip(flavor),
        _ => throw new ArgumentException($"augmentation: unknown --augment '{name}' (expected {string.Join(", ", Names)})"),
    };

    private sealed class FlipOnly(ModelFlavor flavor) : IAugmentation
    {
        public AugmentedImage Apply(RgbImage image, LabelledBoxes objects, long seed, long epoch, long index)
        {
            Check(image, objects);
            var rng = DrawStream.ForImage(seed, epoch, index);
            if (flavor == ModelFlavor.SsdPytorch)
            {
                var floats = RgbPixels.ToFloat(image);
                var mirrored = SsdPytorchAugment.RandomMirror(floats, objects, rng);
                return new AugmentedImage(floats, mirrored);
            }
            var pixels = RgbPixels.Of(image);
            var boxes = flavor == ModelFlavor.Caffe
                ? CaffeAugment.RandomMirror(pixels, objects, rng)
                : TorchvisionAugment.HorizontalFlip(pixels, objects, rng, TorchvisionAugment.Default);
            return new AugmentedImage(pixels.ToImage(), boxes);
        }
    }

    private sealed class Torchvision(TorchvisionAugment.Options options) : IAugmentation
    {
        public AugmentedImage Apply(RgbImage image, LabelledBoxes objects, long seed, long epoch, long index)
        {
            Check(image, objects);
            var (pixels, boxes) = TorchvisionAugment.Apply(RgbPixels.Of(image), objects, DrawStream.ForImage(seed, epoch, index), options);
            return new AugmentedImage(pixels.ToImage(), boxes);
        }
    }

    private sealed class Caffe(CaffeAugment.Options options) : IAugmentation
    {
        public AugmentedImage Apply(RgbImage image, LabelledBoxes objects, long seed, long epoch, long index)
        {
            Check(image, objects);
            var (pixels, boxes) = CaffeAugment.Apply(RgbPixels.Of(image), objects, DrawStream.ForImage(seed, epoch, index), options);
            return new AugmentedImage(pixels.ToImage(), boxes);
        }
    }

    private sealed class SsdPytorch : IAugmentation
    {
        public AugmentedImage Apply(RgbImage image, LabelledBoxes objects, long seed, long epoch, long index)
        {
            Check(image, objects);
            var (pixels, boxes) = SsdPytorchAugment.Apply(RgbPixels.ToFloat(image), objects, DrawStream.ForImage(seed, epoch, index));
            return new AugmentedImage(pixels, boxes);
        }
    }

    private sealed class NoAugmentation : IAugmentation
    {
        public AugmentedImage Apply(RgbImage image, LabelledBoxes objects, long seed, long epoch, long index)
        {
            Check(image, objects);
            return new AugmentedImage(image, objects);
        }
    }

    private static void Check(RgbImage image, LabelledBoxes objects)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(objects);
        if (objects.Corners.Length != 4 * objects.Labels.Length)
            throw new ArgumentException($"augmentation: {objects.Corners.Length} corner values for {objects.Labels.Length} objects");
    }
}
