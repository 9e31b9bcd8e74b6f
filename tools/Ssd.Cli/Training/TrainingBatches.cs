using Ssd.Data;
using Ssd.Engine.Training.Input;
using Ssd.Engine.Training.Loss;
using Ssd.Imaging;
using Annotation = Ssd.Engine.Training.Input.Annotation;
using Ssd.Weights.Model;

namespace Ssd.Cli.Training;

/// <summary>One training batch: the network input [B, 3, H, W], one ground truth and one name per image.</summary>
public sealed record TrainingBatch(float[] Input, GroundTruth[] Truths, string[] Names, int[] Positions);

/// <summary>
/// A detection data set as training batches without augmentation: each image decoded (Ssd.Imaging), its objects
/// as the data set states them (COCO x, y, w, h; VOC 1-based corners) with engine class = data set class index + 1
/// (0 is the background), prepared by the flavour's training-time input (<see cref="TrainingInput"/>). Batch i of an
/// unshuffled run holds the images at positions i*B .. i*B+B-1 of the data set's image list, wrapping at the end;
/// a shuffled run draws a new permutation per pass from the seed.
/// </summary>
public sealed class TrainingBatches
{
    private readonly DetectionDataSet data;
    private readonly ModelFlavor flavor;
    private readonly InputSpec spec;
    private readonly int batch;
    private readonly bool shuffle;
    private readonly Random random;
    private int[] order;
    private long next;

    public TrainingBatches(DetectionDataSet data, ModelFlavor flavor, InputSpec spec, int batch, bool shuffle = false, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Images.Count == 0) throw new ArgumentException($"{data.Source}: the data set has no images");
        if (batch <= 0) throw new ArgumentException($"batch {batch} must be positive");
        (this.data, this.flavor, this.spec, this.batch, this.shuffle) = (data, flavor, spec, batch, shuffle);
        random = new Random(seed);
        order = NewOrder();
    }

    /// <summary>Images per pass over the data set.</summary>
    public int Count => data.Images.Count;

    private int[] NewOrder()
    {
        var o = Enumerable.Range(0, data.Images.Count).ToArray();
        if (shuffle) random.Shuffle(o);
        return o;
    }

    /// <summary>The next batch (decodes and prepares its images).</summary>
    public TrainingBatch Next()
    {
        var positions = new int[batch];
        for (int k = 0; k < batch; k++)
        {
            if (shuffle && next > 0 && next % order.Length == 0) order = NewOrder();   // a new pass
            positions[k] = order[next % order.Length];
            next++;
        }
        return Prepare(positions);
    }

    /// <summary>The batch of the images at <paramref name="positions"/> of the data set's list.</summary>
    public TrainingBatch Prepare(IReadOnlyList<int> positions)
    {
        var items = new List<(Ssd.Engine.Imaging.RgbImage, IReadOnlyList<Annotation>)>();
        var names = new string[positions.Count];
        for (int k = 0; k < positions.Count; k++)
        {
            var image = data.Images[positions[k]];
            names[k] = image.FileName;
            items.Add((ImageDecoder.Load(image.FilePath), Annotations(image)));
        }
        var input = new float[(long)positions.Count * 3 * spec.Width * spec.Height];
        var truths = TrainingInput.PrepareBatch(flavor, spec, items, Format(data), input);
        return new TrainingBatch(input, truths, names, [.. positions]);
    }

    /// <summary>COCO sets keep x, y, w, h; VOC sets (pixels numbered from 1) their corners.</summary>
    public static AnnotationFormat Format(DetectionDataSet data) =>
        data.Images.Count > 0 && data.Images[0].PixelOrigin == 1 ? AnnotationFormat.Voc : AnnotationFormat.Coco;

    public static IReadOnlyList<Annotation> Annotations(DataSetImage image) =>
        [.. image.Objects.Select(o => image.PixelOrigin == 1
            ? new Annotation(o.Box.X1, o.Box.Y1, o.Box.X2, o.Box.Y2, o.ClassIndex + 1, o.Difficult, o.IsCrowd)
            : new Annotation(o.Box.X1, o.Box.Y1, o.Box.Width, o.Box.Height, o.ClassIndex + 1, o.Difficult, o.IsCrowd))];
}
