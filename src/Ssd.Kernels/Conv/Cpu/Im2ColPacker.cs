using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Conv;

/// <summary>
/// im2col straight into the micro-kernel's B layout: for one micro-panel of NR output pixels and reduction rows
/// k in [k0, k0+kc) (k = (c*kH + ky)*kW + kx), writes row k-k0 at dst + (k-k0)*NR with the input value each pixel's
/// filter tap reads, zero where the tap falls in the padding or the pixel is past the end. Pixels are handled in runs
/// that share an output row, so stride-1 taps become contiguous copies.
/// </summary>
internal static unsafe class Im2ColPacker
{
    /// <remarks><paramref name="x"/>: First input channel of the group, of one image (plane stride H*W).</remarks>
    public static void PackPanel(float* x, int h, int w, int outW, in Conv2dParams p,
        int k0, int kc, int pixel0, int pixels, int nr, float* dst)
    {
        // Runs of pixels on one output row: (first pixel's column in the panel, oy, ox, length).
        Span<int> runs = stackalloc int[4 * nr];
        int runCount = 0;
        for (int j = 0; j < pixels;)
        {
            int pix = pixel0 + j, oy = pix / outW, ox = pix % outW;
            int len = Math.Min(outW - ox, pixels - j);
            runs[4 * runCount] = j; runs[4 * runCount + 1] = oy; runs[4 * runCount + 2] = ox; runs[4 * runCount + 3] = len;
            runCount++;
            j += len;
        }

        int taps = p.KernelH * p.KernelW;
        int c = k0 / taps, r = k0 % taps, ky = r / p.KernelW, kx = r % p.KernelW;
        long plane = (long)h * w;
        for (int kk = 0; kk < kc; kk++)
        {
            float* row = dst + (long)kk * nr;
            float* src = x + c * plane;
            for (int q = 0; q < runCount; q++)
            {
                int j = runs[4 * q], oy = runs[4 * q + 1], ox = runs[4 * q + 2], len = runs[4 * q + 3];
                float* d = row + j;
                int iy = oy * p.StrideH - p.PadH + ky * p.DilationH;
                if ((uint)iy >= (uint)h)
                {
                    new Span<float>(d, len).Clear();
                    continue;
                }
                float* srcRow = src + (long)iy * w;
                int ix0 = ox * p.StrideW - p.PadW + kx * p.DilationW;
                if (p.StrideW == 1)
                {
                    // Taps t with 0 <= ix0 + t < w are a contiguous copy; the rest read padding.
                    int lo = Math.Clamp(-ix0, 0, len), hi = Math.Clamp(w - ix0, lo, len);
                    if (lo > 0) new Span<float>(d, lo).Clear();
                    if (hi > lo) new ReadOnlySpan<float>(srcRow + ix0 + lo, hi - lo).CopyTo(new Span<float>(d + lo, hi - lo));
                    if (len > hi) new Span<float>(d + hi, len - hi).Clear();
                }
                else
                {
                    for (int t = 0, ix = ix0; t < len; t++, ix += p.StrideW)
                        d[t] = (uint)ix < (uint)w ? srcRow[ix] : 0f;
                }
            }
            if (pixels < nr) new Span<float>(row + pixels, nr - pixels).Clear();
            if (++kx == p.KernelW)
            {
                kx = 0;
                if (++ky == p.KernelH) { ky = 0; c++; }
            }
        }
    }

    /// <summary>Copies kc rows of a plain [K, ldx] matrix (a 1x1 conv's input) into a zero-padded NR-wide panel.</summary>
    public static void CopyPanel(float* x, long ldx, int kc, int pixels, int nr, float* dst)
    {
        for (int kk = 0; kk < kc; kk++)
        {
            float* row = dst + (long)kk * nr;
            new ReadOnlySpan<float>(x + kk * ldx, pixels).CopyTo(new Span<float>(row, pixels));
            if (pixels < nr) new Span<float>(row + pixels, nr - pixels).Clear();
        }
    }
}
