using Ssd.Data;
using Ssd.Engine.Training.Data;
using Ssd.Engine.Training.Data.Augment;
using Ssd.Engine.Training.Input;
using Ssd.Engine.Training.Loss;
using Ssd.Imaging;
using Annotation = Ssd.Engine.Training.Input.Annotation;
using Ssd.Weights.Model;

namespace Ssd.Cli.Training;

/// <summary>One training batch: the network input [B, 3, H, W], one ground truth and one name per image.</summary>
public sealed record TrainingBatch(float[] Input, GroundTruth[] Truths, string[] Names, int[] Positions);

/// <summary>
/// A detection data set as training batches: the images of each batch come from the epoch-less
/// <see cref="BatchSampler"/> (unshuffled: batch i holds the images at positions i*B .. i*B+B-1 of the data set's
/// list, wrapping at the end; shuffled: a permutation per epoch drawn from the seed), each decoded (Ssd.Imaging), its
/// objects as the data set states them (COCO x, y, w, h; VOC 1-based corners) with engine class = data set class
/// index + 1 (0 is the background), augmented (<see cref="IAugmentation"/>: a pure function of seed, epoch and
/// image index; <see cref="Augmentation.None"/> by default) and prepared by the flavour's training-time input.
/// </summary>
public sealed class TrainingBatches
{
    private readonly DetectionDataSet data;
    private readonly ModelFlavor flavor;
    private readonly InputSpec spec;
    private readonly BatchSampler sampler;
    private readonly IAugmentation augmentation;
    private long next;

    public TrainingBatches(DetectionDataSet data, ModelFlavor flavor, InputSpec spec, int batch, bool shuffle = false, int seed = 0,
        IAugmentation? augmentation = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Images.Count == 0) throw new ArgumentException($"{data.Source}: the data set has no images");
        (this.data, this.flavor, this.spec) = (data, flavor, spec);
        sampler = new BatchSampler(data.Images.Count, batch, shuffle, seed);
        this.augmentation = augmentation ?? Augmentation.None;
    }

    /// <summary>Images per pass over the data set.</summary>
    public int Count => data.Images.Count;

    /// <summary>The next batch (decodes, augments and prepares its images).</summary>
    public TrainingBatch Next() => Prepare(sampler.Batch(next++));

    /// <summary>The batch of the images at <paramref name="positions"/> of the data set's list (as in epoch 0).</summary>
    public TrainingBatch Prepare(IReadOnlyList<int> positions) => Prepare([.. positions.Select(p => (0L, p))]);

    private TrainingBatch Prepare((long Epoch, int Index)[] items)
    {
        var format = Format(data);
        int floats = 3 * spec.Width * spec.Height;
        var input = new float[(long)items.Length * floats];
        var truths = new GroundTruth[items.Length];
        var names = new string[items.Length];
        for (int k = 0; k < items.Length; k++)
        {
            var (epoch, index) = items[k];
            var image = data.Images[index];
            names[k] = image.FileName;
            var pixels = ImageDecoder.Load(image.FilePath);
            var objects = TrainingInput.Objects(flavor, pixels.Width, pixels.Height, Annotations(image), format);
            var augmented = augmentation.Apply(pixels, objects, sampler.Seed, epoch, index);
            augmented.WriteInput(flavor, spec, input.AsSpan(k * floats, floats));
            truths[k] = augmented.Truth(flavor, spec);
        }
        return new TrainingBatch(input, truths, names, [.. items.Select(i => i.Index)]);
    }

    /// <summary>COCO sets keep x, y, w, h; VOC sets (pixels numbered from 1) their corners.</summary>
    public static AnnotationFormat Format(DetectionDataSet data) =>
        data.Images.Count > 0 && data.Images[0].PixelOrigin == 1 ? AnnotationFormat.Voc : AnnotationFormat.Coco;

    public static IReadOnlyList<Annotation> Annotations(DataSetImage image) =>
        [.. image.Objects.Select(o => image.PixelOrigin == 1
            ? new Annotation(o.Box.X1, o.Box.Y1, o.Box.X2, o.Box.Y2, o.ClassIndex + 1, o.Difficult, o.IsCrowd)
            : new Annotation(o.Box.X1, o.Box.Y1, o.Box.Width, o.Box.Height, o.ClassIndex + 1, o.Difficult, o.IsCrowd))];
}
