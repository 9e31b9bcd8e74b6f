namespace Ssd.Kernels.Preprocess;

/// <summary>
/// The per-column and per-row taps of OpenCV 4.x cv::resize with INTER_LINEAR on 8-bit images, computed as
/// OpenCV computes them so that the result is bit-exact:
/// scale = 1 / (dst / src) in double; f = (float)((d + 0.5) * scale - 0.5); s = floor(f); f -= s;
/// coefficients saturate_cast&lt;short&gt;((1 - f) * 2048) and saturate_cast&lt;short&gt;(f * 2048) (round half to even).
/// Columns clamp at the borders (s &lt; 0 gives s = 0, f = 0; s &gt;= src - 1 gives s = src - 1, f = 0); rows do not
/// change their coefficients, only the rows read are clamped into the image.
/// </summary>
/// <remarks>
/// OpenCV switches an exact 2x downscale to its fast INTER_AREA path; for 8-bit data that is the same
/// (a + b + c + d + 2) &gt;&gt; 2 as the fixed-point bilinear formula here, so no special case is needed.
/// </remarks>
internal static class OpenCvLinearTables
{
    public const int CoefBits = 11;
    public const int CoefScale = 1 << CoefBits;

    /// <summary>Ints per table entry: source offset, coefficient 0, coefficient 1.</summary>
    public const int Stride = 3;

    /// <summary>Columns then rows: [x offset, alpha0, alpha1] * dstWidth, [y offset, beta0, beta1] * dstHeight.</summary>
    public static int[] Build(int srcWidth, int srcHeight, int dstWidth, int dstHeight)
    {
        var t = new int[Stride * (dstWidth + dstHeight)];
        Fill(t.AsSpan(0, Stride * dstWidth), srcWidth, dstWidth, clampCoefficients: true);
        Fill(t.AsSpan(Stride * dstWidth), srcHeight, dstHeight, clampCoefficients: false);
        return t;
    }

    private static void Fill(Span<int> t, int src, int dst, bool clampCoefficients)
    {
        for (int d = 0; d < dst; d++)
        {
            var (s, f) = Tap(src, dst, d, clampCoefficients);
            t[Stride * d] = s;
            t[Stride * d + 1] = SaturateShort((1f - f) * CoefScale);
            t[Stride * d + 2] = SaturateShort(f * CoefScale);
        }
    }

    /// <summary>
    /// Output <paramref name="d"/>'s first source index and the weight of the next one, as cv::resize computes them
    /// for every depth (the 8-bit path then makes fixed-point coefficients of 1 - f and f, the float path uses them).
    /// </summary>
    public static (int Source, float Fraction) Tap(int src, int dst, int d, bool clampAtBorders)
    {
        double scale = 1.0 / ((double)dst / src);
        float f = (float)((d + 0.5) * scale - 0.5);
        int s = (int)MathF.Floor(f);
        f -= s;
        if (clampAtBorders)
        {
            if (s < 0) { s = 0; f = 0f; }
            if (s >= src - 1) { s = src - 1; f = 0f; }
        }
        return (s, f);
    }

    /// <summary>saturate_cast&lt;short&gt;(float): cvRound (nearest, ties to even), then clamp.</summary>
    private static int SaturateShort(float v) => (int)Math.Clamp(MathF.Round(v, MidpointRounding.ToEven), short.MinValue, short.MaxValue);

    /// <summary>
    /// One output sample from the two horizontal sums of the rows above and below, as OpenCV's
    /// VResizeLinear&lt;uchar, int, short, FixedPtCast&lt;int, uchar, 22&gt;&gt; rounds it (with its intermediate shifts).
    /// </summary>
    public static int Vertical(int row0, int row1, int beta0, int beta1) =>
        (((beta0 * (row0 >> 4)) >> 16) + ((beta1 * (row1 >> 4)) >> 16) + 2) >> 2;
}
