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
    private readonly int[]? classes;
    private long next;

    /// <summary><paramref name="classes"/> maps a data set class index to the model's class (default: index + 1, the
    /// model's classes being the data set's); a class mapped to a negative value is dropped (its objects are not trained on).</summary>
    public TrainingBatches(DetectionDataSet data, ModelFlavor flavor, InputSpec spec, int batch, bool shuffle = false, int seed = 0,
        IAugmentation? augmentation = null, int[]? classes = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Images.Count == 0) throw new ArgumentException($"{data.Source}: the data set has no images");
        if (classes is not null && classes.Length != data.Classes.Count) throw new ArgumentException($"{data.Source}: {classes.Length} class mappings for {data.Classes.Count} classes");
        (this.data, this.flavor, this.spec, this.classes) = (data, flavor, spec, classes);
        sampler = new BatchSampler(data.Images.Count, batch, shuffle, seed);
        this.augmentation = augmentation ?? Augmentation.None;
    }

    /// <summary>Images per pass over the data set.</summary>
    public int Count => data.Images.Count;

    /// <summary>The next batch (decodes, augments and prepares its images).</summary>
    public TrainingBatch Next() => Batch(next++);

    /// <summary>Batch <paramref name="b"/> of the endless stream (0 is the first step's): a pure function of b, safe to
    /// call from several threads (the prefetch workers).</summary>
    public TrainingBatch Batch(long b) => Prepare(sampler.Batch(b));

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
            var pixels = DataSetImages.Load(image);
            var objects = TrainingInput.Objects(flavor, pixels.Width, pixels.Height, Annotations(image, classes), format);
            var augmented = augmentation.Apply(pixels, objects, sampler.Seed, epoch, index);
            augmented.WriteInput(flavor, spec, input.AsSpan(k * floats, floats));
            truths[k] = augmented.Truth(flavor, spec);
        }
        return new TrainingBatch(input, truths, names, [.. items.Select(i => i.Index)]);
    }

    /// <summary>COCO sets keep x, y, w, h; VOC sets (pixels numbered from 1) their corners.</summary>
    public static AnnotationFormat Format(DetectionDataSet data) =>
        data.Images.Count > 0 && data.Images[0].PixelOrigin == 1 ? AnnotationFormat.Voc : AnnotationFormat.Coco;

    public static IReadOnlyList<Annotation> Annotations(DataSetImage image, int[]? classes = null) =>
        [.. image.Objects.Where(o => classes is null || classes[o.ClassIndex] >= 0).Select(o =>
        {
            int c = classes is null ? o.ClassIndex + 1 : classes[o.ClassIndex];
            return image.PixelOrigin == 1
                ? new Annotation(o.Box.X1, o.Box.Y1, o.Box.X2, o.Box.Y2, c, o.Difficult, o.IsCrowd)
                : new Annotation(o.Box.X1, o.Box.Y1, o.Box.Width, o.Box.Height, c, o.Difficult, o.IsCrowd);
        })];
}
