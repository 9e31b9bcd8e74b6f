namespace Ssd.Engine.Training.Loss;

/// <summary>
/// The objects of one training image: <see cref="Boxes"/> holds G corner boxes (x1, y1, x2, y2) in the flavour's
/// coordinates (torchvision: pixels of the network input; ssd.pytorch and Caffe: fractions of the image), and
/// <see cref="Labels"/> their engine classes, 1 .. classes - 1 (0 is the background). An image without objects has
/// G = 0. Ssd.Engine.Training.Input.TrainingInput produces these from an annotated image in each flavour's convention.
/// </summary>
public sealed record GroundTruth(float[] Boxes, int[] Labels)
{
    /// <summary>An image without objects.</summary>
    public static GroundTruth Empty { get; } = new([], []);

    /// <summary>The number of objects, G.</summary>
    public int Count => Labels.Length;

    /// <summary>
    /// Throws ArgumentException naming the image and the object when the arrays disagree, a coordinate is not
    /// finite, a box has no area (x2 &lt;= x1 or y2 &lt;= y1: its encoded width would be log 0) or a label is the
    /// background or beyond the classes.
    /// </summary>
    public void Validate(int numClasses, int image)
    {
        if (Boxes is null || Labels is null) throw new ArgumentException($"image {image}: ground truth boxes and labels must not be null");
        if (Boxes.Length != 4 * Labels.Length)
            throw new ArgumentException($"image {image}: {Boxes.Length} box coordinates for {Labels.Length} labels (expected 4 per object)");
        for (int g = 0; g < Labels.Length; g++)
        {
            float x1 = Boxes[4 * g], y1 = Boxes[4 * g + 1], x2 = Boxes[4 * g + 2], y2 = Boxes[4 * g + 3];
            if (!(float.IsFinite(x1) && float.IsFinite(y1) && float.IsFinite(x2) && float.IsFinite(y2)))
                throw new ArgumentException($"image {image}, object {g}: box ({x1}, {y1}, {x2}, {y2}) has a coordinate that is not finite");
            if (!(x2 > x1 && y2 > y1))
                throw new ArgumentException($"image {image}, object {g}: box ({x1}, {y1}, {x2}, {y2}) has no area (needs x2 > x1 and y2 > y1)");
            if (Labels[g] < 1 || Labels[g] >= numClasses)
                throw new ArgumentException($"image {image}, object {g}: label {Labels[g]} is not an object class (1 .. {numClasses - 1}; 0 is the background)");
        }
    }
}
