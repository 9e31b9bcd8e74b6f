using ILGPU;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Conv;

/// <summary>
/// ILGPU kernels for 2D convolution (NCHW input, OIHW weights), numbered from simplest to fastest.
/// All read a zero for input outside the image (zero padding), add the bias when g.HasBias and clamp at zero when g.Relu.
/// </summary>
public static class Conv2dKernels
{
    /// <summary>
    /// Version 1: one thread per output element, a direct loop over its receptive field.
    /// Handles every case: any kernel, stride, padding, dilation, groups (depthwise included).
    /// </summary>
    [Kernel("conv2d")]
    public static void Conv2d1(Index1D index, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y, Conv2dGeometry g)
    {
        int i = index;
        int ox = i % g.OutW;
        int t = i / g.OutW;
        int oy = t % g.OutH;
        t /= g.OutH;
        int o = t % g.OutC;
        int n = t / g.OutC;

        int cg = g.GroupInC;
        int firstInput = o / (g.OutC / g.Groups) * cg;
        int iy0 = oy * g.StrideH - g.PadH;
        int ix0 = ox * g.StrideW - g.PadW;
        float acc = g.HasBias != 0 ? bias[o] : 0f;
        for (int c = 0; c < cg; c++)
        {
            int xPlane = (n * g.C + firstInput + c) * g.H;
            int wRow = (o * cg + c) * g.KernelH;
            for (int ky = 0; ky < g.KernelH; ky++)
            {
                int iy = iy0 + ky * g.DilationH;
                if (iy < 0 || iy >= g.H) continue;
                int xRow = (xPlane + iy) * g.W;
                int wk = (wRow + ky) * g.KernelW;
                for (int kx = 0; kx < g.KernelW; kx++)
                {
                    int ix = ix0 + kx * g.DilationW;
                    if (ix >= 0 && ix < g.W) acc += w[wk + kx] * x[xRow + ix];
                }
            }
        }
        y[i] = g.Relu != 0 ? IntrinsicMath.Max(acc, 0f) : acc;
    }

    /// <summary>Output tile per group of the tiled kernels: TileM output channels x TileN output pixels (<see cref="TiledGemm"/>).</summary>
    public const int TileM = TiledGemm.TileM, TileN = TiledGemm.TileN;
    /// <summary>Reduction chunk staged in shared memory per step.</summary>
    public const int TileK = TiledGemm.TileK;
    /// <summary>Threads per group of the tiled kernels: 16x16, each owning a 4x4 micro-tile.</summary>
    public const int TiledGroupSize = TiledGemm.GroupSize;

    /// <summary>
    /// Version 2: implicit GEMM on <see cref="TiledGemm"/>, Y[outC, N*OH*OW] = W[outC, K] * im2col(X)[K, N*OH*OW] with
    /// K = inC*kH*kW, never materialising im2col: each group stages 64x16 weights and 16x64 gathered inputs in shared
    /// memory, then every thread does 16*16 FMAs into its 4x4 micro-tile; bias and ReLU on the way out to NCHW.
    /// groups == 1 only; any kernel/stride/padding/dilation. Launch with <see cref="TiledGroupSize"/> threads and
    /// ceil(M/64)*ceil(N/64) groups.
    /// </summary>
    [Kernel("conv2d", GroupSize = TiledGroupSize)]
    public static void Conv2d2(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y, Conv2dGeometry g) =>
        TiledGemm.Run(new Rows(w, 0, g.GemmK), new Im2Col(x, g), new BiasReluOutput(y, bias, g), g.GemmM, g.GemmN, Grid.IdxX, 0, g.GemmK, false);

    /// <summary>
    /// Version 3: Version 2 specialised for 1x1 kernels with stride 1 and no padding (SSD's extra layers):
    /// the im2col row k is input channel k itself, so the gather is a contiguous read without index arithmetic.
    /// </summary>
    [Kernel("conv2d", GroupSize = TiledGroupSize)]
    public static void Conv2d3(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y, Conv2dGeometry g) =>
        TiledGemm.Run(new Rows(w, 0, g.GemmK), new Planes(x, g.C, g.OutPlane), new BiasReluOutput(y, bias, g), g.GemmM, g.GemmN, Grid.IdxX, 0, g.GemmK, false);

    /// <summary>y as [outC, N*OH*OW] (<see cref="Planes"/>), each value plus its channel's bias, clamped at 0 with g.Relu.</summary>
    private readonly struct BiasReluOutput(ArrayView<float> y, ArrayView<float> bias, Conv2dGeometry g) : IGemmTarget
    {
        public void Store(int row, int column, float value)
        {
            float v = value + (g.HasBias != 0 ? bias[row] : 0f);
            new Planes(y, g.OutC, g.OutPlane).Store(row, column, g.Relu != 0 ? IntrinsicMath.Max(v, 0f) : v);
        }
    }
}

/// <summary>
/// im2col(x) as a GEMM operand: element ((c, ky, kx), (n, oy, ox)) is the input value that tap reads, 0 in the
/// padding (the forward's B; transposed, the weight gradient's).
/// </summary>
internal readonly struct Im2Col(ArrayView<float> x, Conv2dGeometry g) : IGemmOperand
{
    public float Load(int row, int column)
    {
        int plane = g.OutPlane, n = column / plane, pixel = column - n * plane;
        int oy = pixel / g.OutW, ox = pixel - oy * g.OutW;
        int area = g.KernelH * g.KernelW, c = row / area, r = row - c * area;
        int ky = r / g.KernelW, kx = r - ky * g.KernelW;
        int iy = oy * g.StrideH - g.PadH + ky * g.DilationH, ix = ox * g.StrideW - g.PadW + kx * g.DilationW;
        return iy >= 0 && iy < g.H && ix >= 0 && ix < g.W ? x[((n * g.C + c) * g.H + iy) * g.W + ix] : 0f;
    }
}
