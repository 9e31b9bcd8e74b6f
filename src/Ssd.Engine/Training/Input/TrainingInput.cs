using Ssd.Kernels.Cpu;
using Ssd.Engine.Imaging;
using Ssd.Engine.Training.Loss;
using Ssd.Kernels.Preprocess;
using Ssd.Weights.Model;

namespace Ssd.Engine.Training.Input;

/// <summary>How a data set writes an object's box.</summary>
public enum AnnotationFormat
{
    /// <summary>Pascal VOC XML: xmin, ymin, xmax, ymax, 1-based pixel indices (inclusive).</summary>
    Voc,
    /// <summary>COCO JSON: x, y, width, height in pixels (x, y the top-left corner).</summary>
    Coco,
}

/// <summary>
/// One annotated object as the data set states it (<see cref="AnnotationFormat"/> says how to read A..D), its engine
/// class (1 ..), and VOC's difficult / COCO's iscrowd flags.
/// </summary>
public readonly record struct Annotation(double A, double B, double C, double D, int Label, bool Difficult = false, bool Crowd = false);

/// <summary>
/// Each flavour's training-time input without augmentation: the image resized and normalised as its training
/// pipeline does it, and the objects in the coordinates its loss takes, scaled the same way.
/// <list type="bullet">
/// <item>torchvision: GeneralizedRCNNTransform in training mode (SSD's single min_size, so the same resize as at
/// inference: x / 255, normalise, F.interpolate bilinear to the fixed size); boxes as its detection reference's
/// COCO loader (coco_utils.py ConvertCocoPolysToMask: float32 corners x + w, clamped to the image, boxes without area
/// dropped), then resize_boxes' float32 ratios new / old: pixels of the network input. VOC corners are taken as
/// pixels the same way.</item>
/// <item>ssd.pytorch: SSDAugmentation's deterministic steps: ConvertFromInts (float32), Resize (cv2.resize on the
/// float image, not the uint8 inference path), SubtractMeans (104, 117, 123 in BGR), the RGB swap of its data set;
/// boxes as its VOCAnnotationTransform ((x - 1) / size) or COCOAnnotationTransform (corners / size), in double
/// (with ToAbsoluteCoords / ToPercentCoords' round trip), then float32. Not clamped, nothing dropped.</item>
/// <item>Caffe: the AnnotatedData layer's WARP resize (cv::resize INTER_LINEAR on the 8-bit image, the
/// deterministic choice of ssd_pascal.py's interpolation list) then mean subtraction; boxes as convert_annoset
/// normalises them (x / width in float, no -1), then the transform's projection onto the full image: clipped to
/// [0, 1], boxes without area dropped.</item>
/// </list>
/// Which objects train: torchvision's loader drops COCO crowd boxes (coco_utils.py: iscrowd == 0), ssd.pytorch's
/// VOC loader drops difficult ones (VOCAnnotationTransform keep_difficult=False), Caffe keeps both
/// (ssd_pascal.py: use_difficult_gt true).
/// The network input follows the model's <see cref="InputSpec"/> (size, channel order, mean, std).
/// </summary>
public static class TrainingInput
{
    /// <summary>Writes the network input [3, H, W] of one image and returns its ground truth.</summary>
    public static GroundTruth Prepare(ModelFlavor flavor, InputSpec spec, RgbImage image, IReadOnlyList<Annotation> objects, AnnotationFormat format, Span<float> output)
    {
        Image(flavor, spec, image, output);
        return Truth(flavor, spec, image.Width, image.Height, objects, format);
    }

    /// <summary>A batch: image i into output[i * 3HW ..]; images in parallel.</summary>
    public static GroundTruth[] PrepareBatch(ModelFlavor flavor, InputSpec spec, IReadOnlyList<(RgbImage Image, IReadOnlyList<Annotation> Objects)> batch,
        AnnotationFormat format, float[] output, CpuOpOptions cpu = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        long per = 3L * spec.Width * spec.Height;
        if (output.LongLength != per * batch.Count) throw new ArgumentException($"training input: output holds {output.LongLength} floats, the batch needs {batch.Count} x {per}");
        var truths = new GroundTruth[batch.Count];
        WorkerPool.Run(batch.Count, Math.Min(batch.Count, cpu.ResolvedThreads), (flavor, spec, batch, format, output, truths, per), static (s, _, i) =>
            s.truths[i] = Prepare(s.flavor, s.spec, s.batch[i].Image, s.batch[i].Objects, s.format, s.output.AsSpan((int)(i * s.per), (int)s.per)));
        return truths;
    }

    /// <summary>The flavour's training-time network input of one image, [3, H, W].</summary>
    public static void Image(ModelFlavor flavor, InputSpec spec, RgbImage image, Span<float> output)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (flavor != ModelFlavor.SsdPytorch)
        {
            PreprocessReference.Forward(image.Pixels, image.Width, image.Height, InputPreprocessing.FromSpec(spec), output);
            return;
        }
        var pixels = new float[image.Pixels.Length];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = image.Pixels[i];
        SsdPytorchImage(spec, pixels, image.Width, image.Height, output);
    }

    /// <summary>
    /// ssd.pytorch's network input from its float image (RGB, HWC; 0..255 before its photometric distortion, which it
    /// does not clip): Resize (cv2.resize of the float image), SubtractMeans, the RGB order of the spec.
    /// </summary>
    public static void SsdPytorchImage(InputSpec spec, ReadOnlySpan<float> pixels, int width, int height, Span<float> output)
    {
        var settings = InputPreprocessing.FromSpec(spec);
        if (output.Length != settings.OutputLength) throw new ArgumentException($"training input: output holds {output.Length} floats, expected 3x{spec.Height}x{spec.Width}");
        if (pixels.Length != 3L * width * height) throw new ArgumentException($"training input: {pixels.Length} values is not a {width}x{height} RGB image");
        float[] scaled = settings.UnitRange ? new float[pixels.Length] : [];
        for (int i = 0; i < scaled.Length; i++) scaled[i] = pixels[i] / 255f;
        var resized = OpenCvFloatResize.Resize(settings.UnitRange ? scaled : pixels, width, height, 3, spec.Width, spec.Height);
        int plane = spec.Width * spec.Height;
        for (int c = 0; c < 3; c++)
        {
            int sc = settings.Bgr ? 2 - c : c;
            float mean = settings.Mean[c], std = settings.Std[c];
            for (int p = 0; p < plane; p++) output[c * plane + p] = (resized[3 * p + sc] - mean) / std;
        }
    }

    /// <summary>The flavour's ground truth for an image of <paramref name="width"/> x <paramref name="height"/> pixels.</summary>
    public static GroundTruth Truth(ModelFlavor flavor, InputSpec spec, int width, int height, IReadOnlyList<Annotation> objects, AnnotationFormat format) =>
        Finish(flavor, spec, width, height, Objects(flavor, width, height, objects, format));

    /// <summary>
    /// The objects as the flavour's data set hands them to its augmentation (and, without augmentation, straight to
    /// its resize), in that flavour's frame: torchvision float32 pixel corners, clamped to the image, boxes without
    /// area dropped; ssd.pytorch absolute pixel corners in double (its annotation transform's fractions times the size,
    /// ToAbsoluteCoords), nothing clamped or dropped; Caffe fractions of the image in float, clipped to [0, 1], boxes
    /// without area dropped. Crowd (torchvision) and difficult (ssd.pytorch) objects are left out.
    /// </summary>
    public static LabelledBoxes Objects(ModelFlavor flavor, int width, int height, IReadOnlyList<Annotation> objects, AnnotationFormat format)
    {
        ArgumentNullException.ThrowIfNull(objects);
        RgbImage.CheckSize(width, height);
        var boxes = new List<double>();
        var labels = new List<int>();
        for (int i = 0; i < objects.Count; i++)
        {
            var o = objects[i];
            if ((flavor == ModelFlavor.Torchvision && o.Crowd) || (flavor == ModelFlavor.SsdPytorch && o.Difficult)) continue;
            if (!(double.IsFinite(o.A) && double.IsFinite(o.B) && double.IsFinite(o.C) && double.IsFinite(o.D)))
                throw new ArgumentException($"annotation {i}: box ({o.A}, {o.B}, {o.C}, {o.D}) has a coordinate that is not finite");
            if (format == AnnotationFormat.Coco && (o.C < 0 || o.D < 0))
                throw new ArgumentException($"annotation {i}: COCO box ({o.A}, {o.B}, {o.C}, {o.D}) has a negative width or height");
            double[]? box = flavor switch
            {
                ModelFlavor.Torchvision => Torchvision(o, format, width, height),
                ModelFlavor.SsdPytorch => SsdPytorch(o, format, width, height),
                ModelFlavor.Caffe => Caffe(o, format, width, height),
                _ => throw new ArgumentException($"training input: unknown flavour {flavor}"),
            };
            if (box is null) continue;
            boxes.AddRange(box);
            labels.Add(o.Label);
        }
        return new LabelledBoxes([.. boxes], [.. labels]);
    }

    /// <summary>
    /// The ground truth the loss takes from objects in the flavour's frame (<see cref="Objects"/>) on an image of
    /// <paramref name="width"/> x <paramref name="height"/> pixels (after any augmentation): torchvision's resize_boxes
    /// (float32 ratios network size / image size), ssd.pytorch's ToPercentCoords (/ size in double, then float32),
    /// Caffe's fractions as they are.
    /// </summary>
    public static GroundTruth Finish(ModelFlavor flavor, InputSpec spec, int width, int height, LabelledBoxes objects)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(objects);
        RgbImage.CheckSize(width, height);
        var c = objects.Corners;
        var boxes = new float[c.Length];
        float rw = (float)spec.Width / width, rh = (float)spec.Height / height;
        for (int i = 0; i < c.Length; i++)
        {
            bool x = i % 2 == 0;
            boxes[i] = flavor switch
            {
                ModelFlavor.Torchvision => (float)c[i] * (x ? rw : rh),
                ModelFlavor.SsdPytorch => (float)(c[i] / (x ? width : height)),
                _ => (float)c[i],
            };
        }
        return new GroundTruth(boxes, (int[])objects.Labels.Clone());
    }

    private static double[]? Torchvision(Annotation o, AnnotationFormat format, int width, int height)
    {
        float x1 = (float)o.A, y1 = (float)o.B, x2 = (float)o.C, y2 = (float)o.D;
        if (format == AnnotationFormat.Coco) { x2 = x1 + x2; y2 = y1 + y2; }   // boxes[:, 2:] += boxes[:, :2] in float32
        x1 = Math.Clamp(x1, 0f, width); x2 = Math.Clamp(x2, 0f, width);
        y1 = Math.Clamp(y1, 0f, height); y2 = Math.Clamp(y2, 0f, height);
        if (!(x2 > x1 && y2 > y1)) return null;
        return [x1, y1, x2, y2];
    }

    private static double[] SsdPytorch(Annotation o, AnnotationFormat format, int width, int height)
    {
        double x1 = o.A, y1 = o.B, x2 = o.C, y2 = o.D;
        if (format == AnnotationFormat.Voc) { x1 -= 1; y1 -= 1; x2 -= 1; y2 -= 1; }
        else { x2 += x1; y2 += y1; }
        // The annotation transform's / size, then SSDAugmentation's ToAbsoluteCoords (* size), in double.
        return [x1 / width * width, y1 / height * height, x2 / width * width, y2 / height * height];
    }

    private static double[]? Caffe(Annotation o, AnnotationFormat format, int width, int height)
    {
        float x1 = (float)o.A, y1 = (float)o.B, x2 = (float)o.C, y2 = (float)o.D;
        if (format == AnnotationFormat.Coco) { x2 = x1 + x2; y2 = y1 + y2; }
        // convert_annoset: x / width; the data transformer's ProjectBBox onto the unit crop clips to [0, 1] and keeps
        // a box only when its size is positive.
        x1 = Math.Clamp(x1 / width, 0f, 1f); x2 = Math.Clamp(x2 / width, 0f, 1f);
        y1 = Math.Clamp(y1 / height, 0f, 1f); y2 = Math.Clamp(y2 / height, 0f, 1f);
        if (!(x2 > x1 && y2 > y1)) return null;
        return [x1, y1, x2, y2];
    }
}

/// <summary>
/// Objects in a flavour's own frame (<see cref="TrainingInput.Objects"/>): <see cref="Corners"/> holds x1, y1, x2, y2
/// per object (float32 values for torchvision and Caffe, double for ssd.pytorch), <see cref="Labels"/> their classes.
/// </summary>
public sealed record LabelledBoxes(double[] Corners, int[] Labels)
{
    /// <summary>No objects.</summary>
    public static LabelledBoxes Empty { get; } = new([], []);

    /// <summary>The number of objects.</summary>
    public int Count => Labels.Length;

    /// <summary>The objects whose entry in <paramref name="keep"/> is true, in order.</summary>
    public LabelledBoxes Where(ReadOnlySpan<bool> keep)
    {
        var c = new List<double>();
        var l = new List<int>();
        for (int g = 0; g < Count; g++)
            if (keep[g]) { c.AddRange(Corners.AsSpan(4 * g, 4)); l.Add(Labels[g]); }
        return new LabelledBoxes([.. c], [.. l]);
    }
}
