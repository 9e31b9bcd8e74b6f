using ILGPU;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Conv;

/// <summary>
/// ILGPU kernels for the gradients of a 2D convolution (<see cref="Conv2dBackwardReference"/>), from the
/// pre-activation gradient g (a fused ReLU's mask is applied before, by ReLU's backward kernel):
/// dx as the transposed convolution, dw as the correlation of x with g, db as a per-channel sum (Core's reduce).
/// Versions 1 are one thread per result, every case; versions 2 are implicit GEMMs on <see cref="TiledGemm"/>, one group.
/// </summary>
public static class Conv2dBackwardKernels
{
    /// <summary>
    /// Version 1: one thread per dx element (n, c, iy, ix), gathering every (o, ky, kx) whose tap reads it:
    /// oy = (iy + pad - ky * dilation) / stride where that divides exactly and lands inside the output.
    /// Any kernel, stride, padding, dilation and groups.
    /// </summary>
    [Kernel("conv2d")]
    public static void InputGradient1(Index1D index, ArrayView<float> dy, ArrayView<float> w, ArrayView<float> dx, Conv2dGeometry g)
    {
        int i = index;
        int ix = i % g.W;
        int t = i / g.W;
        int iy = t % g.H;
        t /= g.H;
        int c = t % g.C;
        int n = t / g.C;
        int cg = g.GroupInC, og = g.OutC / g.Groups;
        int group = c / cg, ci = c - group * cg;
        float acc = 0f;
        for (int o = group * og; o < (group + 1) * og; o++)
        {
            int gPlane = (n * g.OutC + o) * g.OutH;
            for (int ky = 0; ky < g.KernelH; ky++)
            {
                int ty = iy + g.PadH - ky * g.DilationH;
                if (ty < 0 || ty % g.StrideH != 0) continue;
                int oy = ty / g.StrideH;
                if (oy >= g.OutH) continue;
                int wRow = ((o * cg + ci) * g.KernelH + ky) * g.KernelW;
                for (int kx = 0; kx < g.KernelW; kx++)
                {
                    int tx = ix + g.PadW - kx * g.DilationW;
                    if (tx < 0 || tx % g.StrideW != 0) continue;
                    int ox = tx / g.StrideW;
                    if (ox < g.OutW) acc += w[wRow + kx] * dy[(gPlane + oy) * g.OutW + ox];
                }
            }
        }
        dx[i] = acc;
    }

    /// <summary>
    /// Version 1: one thread per weight (o, c, ky, kx), summing g * x over every image and output pixel whose tap
    /// reads inside the input. Any kernel, stride, padding, dilation and groups; slow for large images.
    /// </summary>
    [Kernel("conv2d")]
    public static void WeightGradient1(Index1D index, ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dw, Conv2dGeometry g)
    {
        int i = index;
        int kx = i % g.KernelW;
        int t = i / g.KernelW;
        int ky = t % g.KernelH;
        t /= g.KernelH;
        int cg = g.GroupInC;
        int c = t % cg;
        int o = t / cg;
        int input = o / (g.OutC / g.Groups) * cg + c;
        float acc = 0f;
        for (int n = 0; n < g.N; n++)
        {
            int xPlane = (n * g.C + input) * g.H;
            int gPlane = (n * g.OutC + o) * g.OutH;
            for (int oy = 0; oy < g.OutH; oy++)
            {
                int iy = oy * g.StrideH - g.PadH + ky * g.DilationH;
                if (iy < 0 || iy >= g.H) continue;
                for (int ox = 0; ox < g.OutW; ox++)
                {
                    int ix = ox * g.StrideW - g.PadW + kx * g.DilationW;
                    if (ix >= 0 && ix < g.W) acc += dy[(gPlane + oy) * g.OutW + ox] * x[(xPlane + iy) * g.W + ix];
                }
            }
        }
        dw[i] = acc;
    }

    /// <summary>
    /// Version 2: dx[C, N*H*W] = W^T[C, outC*kH*kW] * taps(g) as an implicit GEMM (<see cref="TiledGemm"/>): row c of
    /// W^T at reduction index (o, ky, kx) is w[o, c, ky, kx]; column (n, iy, ix) of the gathered g at (o, ky, kx) is
    /// g[n, o, oy, ox] for the output pixel whose tap reads (iy, ix), or 0. groups == 1. Groups: TiledGemm.Tiles(C, N*H*W).
    /// </summary>
    [Kernel("conv2d", GroupSize = TiledGemm.GroupSize)]
    public static void InputGradient2(ArrayView<float> dy, ArrayView<float> w, ArrayView<float> dx, Conv2dGeometry g) =>
        TiledGemm.Run(new TransposedWeights(w, g), new OutputGradientTaps(dy, g), new Planes(dx, g.C, g.H * g.W),
            g.C, g.N * g.H * g.W, Grid.IdxX, 0, g.OutC * g.KernelH * g.KernelW, false);

    /// <summary>
    /// Version 2: dw[outC, C*kH*kW] = g[outC, N*OH*OW] * im2col(x)^T as an implicit GEMM, its reduction over every
    /// image and output pixel cut into <c>splits</c> chunks of <paramref name="chunk"/> columns so that small weight
    /// matrices (conv1_1: 64 x 27 over 90 000 pixels an image) still fill the device. Group Grid.IdxX computes tile
    /// Grid.IdxX % tiles of split Grid.IdxX / tiles into <paramref name="target"/> + split * outC*C*kH*kW (the caller
    /// adds the splits with <see cref="SumSplits1"/>, or passes dw itself when there is one split). groups == 1.
    /// </summary>
    [Kernel("conv2d", GroupSize = TiledGemm.GroupSize)]
    public static void WeightGradient2(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> target, Conv2dGeometry g, int chunk)
    {
        int m = g.OutC, n = g.GemmK, k = g.N * g.OutPlane;
        int tiles = TiledGemm.Tiles(m, n);
        int split = Grid.IdxX / tiles;
        int kBegin = split * chunk;
        TiledGemm.Run(new Planes(dy, g.OutC, g.OutPlane), new Transposed<Im2Col>(new Im2Col(x, g)), new Rows(target, split * m * n, n),
            m, n, Grid.IdxX - split * tiles, kBegin, IntrinsicMath.Min(k, kBegin + chunk), true);
    }

    /// <summary>Version 1: y[i] = sum over s of partial[s * count + i], splits in order.</summary>
    [Kernel("conv2d")]
    public static void SumSplits1(Index1D i, ArrayView<float> partial, ArrayView<float> y, int count, int splits)
    {
        float acc = 0f;
        for (int s = 0; s < splits; s++) acc += partial[s * count + i];
        y[i] = acc;
    }

    /// <summary>W^T: element (c, (o, ky, kx)) is w[o, c, ky, kx] (groups == 1).</summary>
    private readonly struct TransposedWeights(ArrayView<float> w, Conv2dGeometry g) : IGemmOperand
    {
        public float Load(int row, int column)
        {
            int taps = g.KernelH * g.KernelW;
            int o = column / taps;
            return w[(o * g.C + row) * taps + column - o * taps];
        }
    }

    /// <summary>The output gradient gathered for dx: element ((o, ky, kx), (n, iy, ix)) is g[n, o, oy, ox] or 0.</summary>
    private readonly struct OutputGradientTaps(ArrayView<float> dy, Conv2dGeometry g) : IGemmOperand
    {
        public float Load(int row, int column)
        {
            int kx = row % g.KernelW;
            int t = row / g.KernelW;
            int ky = t % g.KernelH;
            int o = t / g.KernelH;
            int ix = column % g.W;
            t = column / g.W;
            int iy = t % g.H;
            int n = t / g.H;
            int ty = iy + g.PadH - ky * g.DilationH, tx = ix + g.PadW - kx * g.DilationW;
            if (ty < 0 || tx < 0 || ty % g.StrideH != 0 || tx % g.StrideW != 0) return 0f;
            int oy = ty / g.StrideH, ox = tx / g.StrideW;
            return oy < g.OutH && ox < g.OutW ? dy[((n * g.OutC + o) * g.OutH + oy) * g.OutW + ox] : 0f;
        }
    }
}
