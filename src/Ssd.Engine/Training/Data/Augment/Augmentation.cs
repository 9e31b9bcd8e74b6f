using Ssd.Engine.Imaging;
using Ssd.Engine.Training.Input;
using Ssd.Weights.Model;

namespace Ssd.Engine.Training.Data.Augment;

/// <summary>An augmented image and its objects, in the flavour's frame (<see cref="TrainingInput.Objects"/>).</summary>
public sealed record AugmentedImage(RgbImage Image, LabelledBoxes Objects);

/// <summary>
/// A training-time augmentation of one image: a pure function of the image, its objects and (seed, epoch, index),
/// whatever thread runs it and in whatever order. The objects come and go in the flavour's frame: take them from
/// <see cref="TrainingInput.Objects"/>, and hand the result to <see cref="TrainingInput.Finish"/> (with the augmented
/// image's size) and <see cref="TrainingInput.Image"/>, which do the flavour's resize. Implementations are stateless
/// and safe to call from several threads at once.
/// </summary>
public interface IAugmentation
{
    AugmentedImage Apply(RgbImage image, LabelledBoxes objects, long seed, long epoch, long index);
}

/// <summary>The augmentations by name (<c>--augment none|ssd</c>) and flavour.</summary>
public static class Augmentation
{
    /// <summary>No augmentation: the image and its objects as they are.</summary>
    public static IAugmentation None { get; } = new NoAugmentation();

    /// <summary>
    /// The paper's augmentation (section 2.2) in the flavour's own variant: torchvision's detection reference
    /// (<see cref="TorchvisionAugment"/>, with <paramref name="torchvision"/>'s settings, default the reference's).
    /// ssd.pytorch's SSDAugmentation and Caffe's samplers are not built yet and are refused with an error saying so.
    /// </summary>
    public static IAugmentation Create(ModelFlavor flavor, TorchvisionAugment.Options? torchvision = null) => flavor switch
    {
        ModelFlavor.Torchvision => new Torchvision(torchvision ?? TorchvisionAugment.Default),
        _ => throw new NotSupportedException($"augmentation: the {flavor} flavour's augmentation is not implemented yet (only torchvision's; use --augment none)"),
    };

    /// <summary><c>none</c> or <c>ssd</c> (the flavour's <see cref="Create"/>).</summary>
    public static IAugmentation Parse(string name, ModelFlavor flavor) => name switch
    {
        "none" => None,
        "ssd" => Create(flavor),
        _ => throw new ArgumentException($"augmentation: unknown --augment '{name}' (expected none or ssd)"),
    };

    private sealed class Torchvision(TorchvisionAugment.Options options) : IAugmentation
    {
        public AugmentedImage Apply(RgbImage image, LabelledBoxes objects, long seed, long epoch, long index)
        {
            ArgumentNullException.ThrowIfNull(image);
            ArgumentNullException.ThrowIfNull(objects);
            var (pixels, boxes) = TorchvisionAugment.Apply(RgbPixels.Of(image), objects, DrawStream.ForImage(seed, epoch, index), options);
            return new AugmentedImage(pixels.ToImage(), boxes);
        }
    }

    private sealed class NoAugmentation : IAugmentation
    {
        public AugmentedImage Apply(RgbImage image, LabelledBoxes objects, long seed, long epoch, long index)
        {
            ArgumentNullException.ThrowIfNull(image);
            ArgumentNullException.ThrowIfNull(objects);
            return new AugmentedImage(image, objects);
        }
    }
}
