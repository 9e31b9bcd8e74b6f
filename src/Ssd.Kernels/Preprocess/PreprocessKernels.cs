using ILGPU;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Preprocess;

/// <summary>
/// ILGPU kernels for the input pre-processing: one thread per output element (c, y, x) of one image's NCHW
/// slice. The taps come from host-computed tables (<see cref="OpenCvLinearTables"/>, <see cref="TorchBilinearTables"/>)
/// so that no device evaluates the coordinate arithmetic differently (e.g. by contracting it into an FMA).
/// Pixels are interleaved RGB bytes.
/// </summary>
public static class PreprocessKernels
{
    /// <summary>
    /// Version 1, OpenCV INTER_LINEAR: the two horizontal sums the output needs are recomputed per output pixel
    /// (integer arithmetic, so bit-exact with OpenCV's two-pass implementation), then the fixed-point vertical blend.
    /// </summary>
    [Kernel("preprocess")]
    public static void OpenCvLinear1(Index1D i, ArrayView<byte> rgb, ArrayView<int> taps, ArrayView<float> output, PreprocessConstants k)
    {
        int plane = k.DstWidth * k.DstHeight;
        int c = i / plane, p = i - c * plane;
        int dy = p / k.DstWidth, dx = p - dy * k.DstWidth;
        int sc = k.SourceChannel(c);

        int sx0 = taps[3 * dx], sx1 = IntrinsicMath.Min(sx0 + 1, k.SrcWidth - 1);
        int a0 = taps[3 * dx + 1], a1 = taps[3 * dx + 2];
        int rowBase = 3 * k.DstWidth;
        int sy = taps[rowBase + 3 * dy];
        int y0 = IntrinsicMath.Clamp(sy, 0, k.SrcHeight - 1), y1 = IntrinsicMath.Clamp(sy + 1, 0, k.SrcHeight - 1);

        int r0 = rgb[3 * (y0 * k.SrcWidth + sx0) + sc] * a0 + rgb[3 * (y0 * k.SrcWidth + sx1) + sc] * a1;
        int r1 = rgb[3 * (y1 * k.SrcWidth + sx0) + sc] * a0 + rgb[3 * (y1 * k.SrcWidth + sx1) + sc] * a1;
        int pixel = OpenCvLinearTables.Vertical(r0, r1, taps[rowBase + 3 * dy + 1], taps[rowBase + 3 * dy + 2]);
        output[i] = k.Normalise(pixel, c);
    }

    /// <summary>
    /// Version 1, torch bilinear: the four neighbours are normalised first (torchvision normalises, then resizes),
    /// blended horizontally on both rows, then vertically, each blend t0 * w0 + t1 * w1 with the first product fused (one FMA) as torch's AVX2 CPU kernel evaluates it.
    /// </summary>
    [Kernel("preprocess")]
    public static void TorchBilinear1(Index1D i, ArrayView<byte> rgb, ArrayView<int> index, ArrayView<float> lambda, ArrayView<float> output, PreprocessConstants k)
    {
        int plane = k.DstWidth * k.DstHeight;
        int c = i / plane, p = i - c * plane;
        int dy = p / k.DstWidth, dx = p - dy * k.DstWidth;
        int sc = k.SourceChannel(c);

        int x0 = index[2 * dx], x1 = index[2 * dx + 1];
        float wx0 = lambda[2 * dx], wx1 = lambda[2 * dx + 1];
        int rowBase = 2 * k.DstWidth;
        int y0 = index[rowBase + 2 * dy], y1 = index[rowBase + 2 * dy + 1];
        float wy0 = lambda[rowBase + 2 * dy], wy1 = lambda[rowBase + 2 * dy + 1];

        float v00 = k.Normalise(rgb[3 * (y0 * k.SrcWidth + x0) + sc], c);
        float v01 = k.Normalise(rgb[3 * (y0 * k.SrcWidth + x1) + sc], c);
        float v10 = k.Normalise(rgb[3 * (y1 * k.SrcWidth + x0) + sc], c);
        float v11 = k.Normalise(rgb[3 * (y1 * k.SrcWidth + x1) + sc], c);
        float top = ExactFma.Fma(v00, wx0, v01 * wx1);
        float bottom = ExactFma.Fma(v10, wx0, v11 * wx1);
        output[i] = ExactFma.Fma(top, wy0, bottom * wy1);
    }
}
