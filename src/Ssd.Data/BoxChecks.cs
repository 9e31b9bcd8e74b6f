namespace Ssd.Data;

/// <summary>
/// The rules that skip an annotated box instead of failing the whole file: a degenerate box (no area) and a box
/// outside its image by more than <see cref="Tolerance"/> pixels (when the image size is known). Both loaders use
/// them, so that a VOC and a COCO set skip the same boxes.
/// </summary>
public static class BoxChecks
{
    /// <summary>How far (pixels) a box may reach past the image edge: VOC's 1-based xmax = width, COCO's float
    /// round-off (x + w = width + 1e-5) and tools that write xmin = 0 all stay inside.</summary>
    public const double Tolerance = 1.0;

    /// <summary>Why the box is skipped, or null when it is kept.</summary>
    public static string? Problem(PixelBox box, int? width, int? height)
    {
        if (box.IsDegenerate) return FormattableString.Invariant($"degenerate box {box} (no area): skipped");
        if (width is int w && (box.X1 < -Tolerance || box.X2 > w + Tolerance))
            return FormattableString.Invariant($"box {box} outside the image's width {w}: skipped");
        if (height is int h && (box.Y1 < -Tolerance || box.Y2 > h + Tolerance))
            return FormattableString.Invariant($"box {box} outside the image's height {h}: skipped");
        return null;
    }
}
