namespace Ssd.Kernels.Preprocess;

/// <summary>
/// cv2.resize(img, (W, H)) with INTER_LINEAR on a float32 image (OpenCV 4.x resizeGeneric_ with HResizeLinear /
/// VResizeLinear on float, the path ssd.pytorch's SSDAugmentation takes after ConvertFromInts): the taps of
/// <see cref="OpenCvLinearTables.Tap"/> as float weights 1 - f and f, a horizontal pass S[x]·(1 - fx) + S[x + 1]·fx
/// per source row (a column past the right border reads one pixel), then rows blended h0·(1 - fy) + h1·fy with the
/// rows clamped into the image; every product and sum rounded to float, none fused (OpenCV's baseline build).
/// An exact 2x downscale takes OpenCV's INTER_AREA fast path instead: (((a + b) + c) + d) · 0.25.
/// </summary>
internal static class OpenCvFloatResize
{
    /// <summary>Interleaved HWC float image with <paramref name="channels"/> channels in, the resized one out.</summary>
    public static float[] Resize(ReadOnlySpan<float> src, int srcWidth, int srcHeight, int channels, int dstWidth, int dstHeight)
    {
        if (srcWidth <= 0 || srcHeight <= 0 || dstWidth <= 0 || dstHeight <= 0 || channels <= 0)
            throw new ArgumentException("resize: sizes and channels must be positive");
        if (src.Length != (long)srcWidth * srcHeight * channels)
            throw new ArgumentException($"resize: {src.Length} floats is not {srcWidth}x{srcHeight}x{channels}");
        int cn = channels;
        var dst = new float[(long)dstWidth * dstHeight * cn];
        if (IsExactHalf(srcWidth, dstWidth) && IsExactHalf(srcHeight, dstHeight))
        {
            for (int y = 0; y < dstHeight; y++)
                for (int x = 0; x < dstWidth; x++)
                    for (int c = 0; c < cn; c++)
                    {
                        int r0 = (2 * y * srcWidth + 2 * x) * cn + c, r1 = r0 + srcWidth * cn;
                        float sum = src[r0] + src[r0 + cn] + src[r1] + src[r1 + cn];
                        dst[((long)y * dstWidth + x) * cn + c] = sum * 0.25f;
                    }
            return dst;
        }

        var xs = new int[dstWidth];
        var fx = new float[dstWidth];
        for (int d = 0; d < dstWidth; d++) (xs[d], fx[d]) = OpenCvLinearTables.Tap(srcWidth, dstWidth, d, clampAtBorders: true);
        // Horizontal pass over every source row.
        var rows = new float[(long)srcHeight * dstWidth * cn];
        for (int y = 0; y < srcHeight; y++)
        {
            var s = src.Slice(y * srcWidth * cn, srcWidth * cn);
            var r = rows.AsSpan(y * dstWidth * cn, dstWidth * cn);
            for (int d = 0; d < dstWidth; d++)
            {
                int sx = xs[d] * cn;
                float a0 = 1f - fx[d], a1 = fx[d];
                for (int c = 0; c < cn; c++)
                    r[d * cn + c] = xs[d] == srcWidth - 1 ? s[sx + c] : s[sx + c] * a0 + s[sx + cn + c] * a1;
            }
        }
        // Vertical pass.
        int width = dstWidth * cn;
        for (int d = 0; d < dstHeight; d++)
        {
            var (sy, fy) = OpenCvLinearTables.Tap(srcHeight, dstHeight, d, clampAtBorders: false);
            var r0 = rows.AsSpan(Math.Clamp(sy, 0, srcHeight - 1) * width, width);
            var r1 = rows.AsSpan(Math.Clamp(sy + 1, 0, srcHeight - 1) * width, width);
            float b0 = 1f - fy, b1 = fy;
            var o = dst.AsSpan(d * width, width);
            for (int i = 0; i < width; i++) o[i] = r0[i] * b0 + r1[i] * b1;
        }
        return dst;
    }

    /// <summary>cv::resize's "is_area_fast" test with an integer scale of 2.</summary>
    private static bool IsExactHalf(int src, int dst)
    {
        double scale = 1.0 / ((double)dst / src);
        return Math.Abs(scale - 2.0) < 2.220446049250313e-16; // DBL_EPSILON
    }
}
