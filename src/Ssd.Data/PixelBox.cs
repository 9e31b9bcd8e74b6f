namespace Ssd.Data;

/// <summary>
/// A box in image pixels, held in both forms the formats use: corners (VOC's xmin, ymin, xmax, ymax) and corner plus
/// size (COCO's x, y, w, h). The form a file stores is kept exactly as read and the other is derived once
/// (x2 = x + w, or w = x2 - x1), so that each metric computes from the numbers its reference computes from the same
/// file: the VOC metric from the corners, the COCO metric from x, y, w, h.
/// </summary>
public readonly record struct PixelBox
{
    /// <summary>Left edge.</summary>
    public double X1 { get; }

    /// <summary>Top edge.</summary>
    public double Y1 { get; }

    /// <summary>Right edge.</summary>
    public double X2 { get; }

    /// <summary>Bottom edge.</summary>
    public double Y2 { get; }

    /// <summary>Width as stored or derived (x2 - x1).</summary>
    public double Width { get; }

    /// <summary>Height as stored or derived (y2 - y1).</summary>
    public double Height { get; }

    private PixelBox(double x1, double y1, double x2, double y2, double width, double height)
    {
        X1 = x1; Y1 = y1; X2 = x2; Y2 = y2; Width = width; Height = height;
    }

    /// <summary>From corners (x1, y1) top-left and (x2, y2) bottom-right; width = x2 - x1.</summary>
    public static PixelBox FromCorners(double x1, double y1, double x2, double y2) => new(x1, y1, x2, y2, x2 - x1, y2 - y1);

    /// <summary>From the top-left corner and the size (COCO's bbox); x2 = x + w.</summary>
    public static PixelBox FromXywh(double x, double y, double width, double height) => new(x, y, x + width, y + height, width, height);

    /// <summary>The box moved by <paramref name="delta"/> pixels along both axes (every stored coordinate plus delta, the size kept).</summary>
    public PixelBox Offset(double delta) => delta == 0 ? this : new(X1 + delta, Y1 + delta, X2 + delta, Y2 + delta, Width, Height);

    /// <summary>Width times height (COCO's area of a detection).</summary>
    public double Area => Width * Height;

    /// <summary>True when no coordinate or size is NaN or infinite.</summary>
    public bool IsFinite => double.IsFinite(X1) && double.IsFinite(Y1) && double.IsFinite(X2) && double.IsFinite(Y2)
        && double.IsFinite(Width) && double.IsFinite(Height);

    /// <summary>No area: x2 &lt;= x1 or y2 &lt;= y1 (a click without a drag in a labelling tool).</summary>
    public bool IsDegenerate => !(Width > 0 && Height > 0);

    /// <summary>[x1, y1, x2, y2].</summary>
    public override string ToString() => FormattableString.Invariant($"[{X1}, {Y1}, {X2}, {Y2}]");
}
