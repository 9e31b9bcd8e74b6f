namespace Ssd.Kernels.Preprocess;

/// <summary>
/// Plain C# reference of the SSD input pre-processing: interleaved 8-bit RGB (HWC) in, one image's NCHW float
/// slice out (3 x Height x Width).
/// </summary>
public static class PreprocessReference
{
    /// <summary>Pre-processes one image as <paramref name="settings"/> say.</summary>
    /// <param name="rgb">Interleaved 8-bit RGB, srcWidth * srcHeight * 3 bytes, rows top to bottom, no padding.</param>
    /// <param name="srcWidth">The image width in pixels.</param>
    /// <param name="srcHeight">The image height in pixels.</param>
    /// <param name="settings">Size, resize, channel order and normalisation.</param>
    /// <param name="output">Receives 3 x Height x Width floats (NCHW, one image).</param>
    /// <exception cref="ArgumentException">A size or length does not fit.</exception>
    public static void Forward(ReadOnlySpan<byte> rgb, int srcWidth, int srcHeight, PreprocessSettings settings, Span<float> output)
    {
        CheckArguments(rgb.Length, srcWidth, srcHeight, settings, output.Length);
        var k = settings.Constants(srcWidth, srcHeight);
        if (settings.Resize == ResizeKind.OpenCvLinear)
        {
            var resized = ResizeOpenCv(rgb, srcWidth, srcHeight, settings.Width, settings.Height);
            int plane = settings.Width * settings.Height;
            for (int c = 0; c < 3; c++)
            {
                int sc = k.SourceChannel(c);
                for (int p = 0; p < plane; p++) output[c * plane + p] = k.Normalise(resized[3 * p + sc], c);
            }
        }
        else
        {
            ResizeTorch(rgb, k, output);
        }
    }

    /// <summary>cv2.resize(img, (dstWidth, dstHeight), interpolation=cv2.INTER_LINEAR) of a 3-channel uint8 image.</summary>
    public static byte[] ResizeOpenCv(ReadOnlySpan<byte> rgb, int srcWidth, int srcHeight, int dstWidth, int dstHeight)
    {
        if (srcWidth <= 0 || srcHeight <= 0 || dstWidth <= 0 || dstHeight <= 0) throw new ArgumentException("resize: sizes must be positive");
        if (rgb.Length != 3L * srcWidth * srcHeight) throw new ArgumentException($"resize: {rgb.Length} bytes is not {srcWidth}x{srcHeight}x3");
        var t = OpenCvLinearTables.Build(srcWidth, srcHeight, dstWidth, dstHeight);
        const int S = OpenCvLinearTables.Stride;
        var dst = new byte[3 * dstWidth * dstHeight];
        // Pass 1 (OpenCV's HResizeLinear): every source row, filtered horizontally to dstWidth int sums.
        var rows = new int[srcHeight][];
        for (int y = 0; y < srcHeight; y++)
        {
            var r = rows[y] = new int[3 * dstWidth];
            for (int dx = 0; dx < dstWidth; dx++)
            {
                int sx = t[S * dx], sx1 = Math.Min(sx + 1, srcWidth - 1);
                for (int c = 0; c < 3; c++)
                    r[3 * dx + c] = rgb[3 * (y * srcWidth + sx) + c] * t[S * dx + 1] + rgb[3 * (y * srcWidth + sx1) + c] * t[S * dx + 2];
            }
        }
        // Pass 2 (VResizeLinear): two rows, clamped into the image, blended with the fixed-point rounding.
        int rowBase = S * dstWidth;
        for (int dy = 0; dy < dstHeight; dy++)
        {
            int sy = t[rowBase + S * dy];
            var r0 = rows[Math.Clamp(sy, 0, srcHeight - 1)];
            var r1 = rows[Math.Clamp(sy + 1, 0, srcHeight - 1)];
            int b0 = t[rowBase + S * dy + 1], b1 = t[rowBase + S * dy + 2];
            for (int i = 0; i < 3 * dstWidth; i++)
                dst[3 * dstWidth * dy + i] = (byte)OpenCvLinearTables.Vertical(r0[i], r1[i], b0, b1);
        }
        return dst;
    }

    /// <summary>torchvision's order: normalise the float image, then F.interpolate bilinear to the output size.</summary>
    private static void ResizeTorch(ReadOnlySpan<byte> rgb, PreprocessConstants k, Span<float> output)
    {
        var (index, lambda) = TorchBilinearTables.Build(k.SrcWidth, k.SrcHeight, k.DstWidth, k.DstHeight);
        int rowBase = 2 * k.DstWidth;
        for (int c = 0; c < 3; c++)
        {
            int sc = k.SourceChannel(c);
            for (int dy = 0; dy < k.DstHeight; dy++)
            {
                int y0 = index[rowBase + 2 * dy], y1 = index[rowBase + 2 * dy + 1];
                float wy0 = lambda[rowBase + 2 * dy], wy1 = lambda[rowBase + 2 * dy + 1];
                for (int dx = 0; dx < k.DstWidth; dx++)
                {
                    int x0 = index[2 * dx], x1 = index[2 * dx + 1];
                    float wx0 = lambda[2 * dx], wx1 = lambda[2 * dx + 1];
                    float top = TorchBilinearTables.Blend(At(rgb, k, y0, x0, sc, c), wx0, At(rgb, k, y0, x1, sc, c), wx1);
                    float bottom = TorchBilinearTables.Blend(At(rgb, k, y1, x0, sc, c), wx0, At(rgb, k, y1, x1, sc, c), wx1);
                    output[(c * k.DstHeight + dy) * k.DstWidth + dx] = TorchBilinearTables.Blend(top, wy0, bottom, wy1);
                }
            }
        }
    }

    private static float At(ReadOnlySpan<byte> rgb, PreprocessConstants k, int y, int x, int sc, int c) =>
        k.Normalise(rgb[3 * (y * k.SrcWidth + x) + sc], c);

    internal static void CheckArguments(long rgbLength, int srcWidth, int srcHeight, PreprocessSettings settings, long outputLength)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        if (srcWidth <= 0 || srcHeight <= 0 || srcWidth > 32768 || srcHeight > 32768)
            throw new ArgumentException($"preprocess: image size {srcWidth}x{srcHeight} is out of range (1..32768)");
        if (rgbLength != 3L * srcWidth * srcHeight)
            throw new ArgumentException($"preprocess: {rgbLength} bytes of pixels is not {srcWidth}x{srcHeight}x3 RGB");
        if (outputLength != settings.OutputLength)
            throw new ArgumentException($"preprocess: output holds {outputLength} floats, expected 3x{settings.Height}x{settings.Width}");
    }
}
