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

    /// <summary>Output tile per group: TileM output channels x TileN output pixels.</summary>
    public const int TileM = 64, TileN = 64;
    /// <summary>Reduction chunk staged in shared memory per step.</summary>
    public const int TileK = 16;
    /// <summary>Threads per group of the tiled kernels: 16x16, each owning a 4x4 micro-tile.</summary>
    public const int TiledGroupSize = 256;
    // Row stride of the A tile in shared memory: 65, not 64, so that the 16 threads storing one column of
    // weights (consecutive k) hit different banks instead of all hitting bank 0.
    private const int AStride = TileM + 1;

    /// <summary>
    /// Version 2: implicit GEMM, Y[outC, N*OH*OW] = W[outC, K] * im2col(X)[K, N*OH*OW] with K = inC*kH*kW,
    /// never materialising im2col. A 256-thread group computes a 64x64 output tile; each thread a 4x4 micro-tile in
    /// registers (rows ty+16i, columns tx+16j, so that stores of a warp are contiguous). K advances in chunks of 16:
    /// the group stages 64x16 weights and 16x64 gathered inputs in shared memory, then every thread does 16*16 FMAs.
    /// groups == 1 only; any kernel/stride/padding/dilation. Launch with <see cref="TiledGroupSize"/> threads and
    /// ceil(M/64)*ceil(N/64) groups.
    /// </summary>
    [Kernel("conv2d", GroupSize = TiledGroupSize)]
    public static void Conv2d2(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y, Conv2dGeometry g) =>
        ImplicitGemm(x, w, bias, y, g, false);

    /// <summary>
    /// Version 3: Version 2 specialised for 1x1 kernels with stride 1 and no padding (SSD's extra layers):
    /// the im2col row k is input channel k itself, so the gather is a contiguous read without index arithmetic.
    /// </summary>
    [Kernel("conv2d", GroupSize = TiledGroupSize)]
    public static void Conv2d3(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y, Conv2dGeometry g) =>
        ImplicitGemm(x, w, bias, y, g, true);

    // Shared body of versions 2 and 3; `pointwise` is a literal at both call sites, so ILGPU's inlining folds it away.
    private static void ImplicitGemm(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y, Conv2dGeometry g, bool pointwise)
    {
        var tileA = SharedMemory.Allocate<float>(TileK * AStride); // [k][m], weights
        var tileB = SharedMemory.Allocate<float>(TileK * TileN);   // [k][n], gathered inputs

        int tid = Group.IdxX;
        int m = g.GemmM, cols = g.GemmN, k = g.GemmK;
        int tilesN = (cols + TileN - 1) / TileN;
        int m0 = Grid.IdxX / tilesN * TileM;
        int n0 = Grid.IdxX % tilesN * TileN;

        // Weight loader: this thread copies reduction index aK of rows aRow + 16i (consecutive threads, consecutive k).
        int aK = tid & (TileK - 1);
        int aRow = tid >> 4;
        // Input loader: this thread always gathers column bCol, for reduction indices bK + 4i.
        int bCol = tid & (TileN - 1);
        int bK = tid >> 6;
        int col = n0 + bCol;
        bool colInside = col < cols;
        int plane = g.OutPlane;
        int image = colInside ? col / plane : 0;
        int pixel = colInside ? col - image * plane : 0;
        int oy = pixel / g.OutW;
        int ox = pixel - oy * g.OutW;
        int iy0 = oy * g.StrideH - g.PadH;
        int ix0 = ox * g.StrideW - g.PadW;
        int xImage = image * g.C * g.H * g.W;
        int area = g.KernelH * g.KernelW;

        // Compute mapping: thread (ty, tx) owns rows ty+16i and columns tx+16j of the tile.
        int tx = tid & 15;
        int ty = tid >> 4;
        float c00 = 0, c01 = 0, c02 = 0, c03 = 0;
        float c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0;
        float c30 = 0, c31 = 0, c32 = 0, c33 = 0;

        for (int k0 = 0; k0 < k; k0 += TileK)
        {
            int ka = k0 + aK;
            for (int i = 0; i < TileM / 16; i++)
            {
                int row = aRow + 16 * i;
                int mm = m0 + row;
                tileA[aK * AStride + row] = mm < m && ka < k ? w[mm * k + ka] : 0f;
            }
            for (int i = 0; i < TileK / 4; i++)
            {
                int kk = bK + 4 * i;
                int kb = k0 + kk;
                float v = 0f;
                if (colInside && kb < k)
                {
                    if (pointwise)
                    {
                        v = x[xImage + kb * plane + pixel];
                    }
                    else
                    {
                        int c = kb / area;
                        int r = kb - c * area;
                        int ky = r / g.KernelW;
                        int kx = r - ky * g.KernelW;
                        int iy = iy0 + ky * g.DilationH;
                        int ix = ix0 + kx * g.DilationW;
                        if (iy >= 0 && iy < g.H && ix >= 0 && ix < g.W)
                            v = x[xImage + (c * g.H + iy) * g.W + ix];
                    }
                }
                tileB[kk * TileN + bCol] = v;
            }
            Group.Barrier();

            for (int kk = 0; kk < TileK; kk++)
            {
                int ra = kk * AStride + ty;
                float a0 = tileA[ra], a1 = tileA[ra + 16], a2 = tileA[ra + 32], a3 = tileA[ra + 48];
                int rb = kk * TileN + tx;
                float b0 = tileB[rb], b1 = tileB[rb + 16], b2 = tileB[rb + 32], b3 = tileB[rb + 48];
                c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
                c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
                c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
                c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            }
            Group.Barrier();
        }

        int rowBase = m0 + ty, colBase = n0 + tx;
        StoreRow(y, bias, g, rowBase, colBase, c00, c01, c02, c03);
        StoreRow(y, bias, g, rowBase + 16, colBase, c10, c11, c12, c13);
        StoreRow(y, bias, g, rowBase + 32, colBase, c20, c21, c22, c23);
        StoreRow(y, bias, g, rowBase + 48, colBase, c30, c31, c32, c33);
    }

    // Epilogue for one micro-tile row: bias, optional ReLU, scatter GEMM columns back to NCHW.
    private static void StoreRow(ArrayView<float> y, ArrayView<float> bias, Conv2dGeometry g, int o, int col,
        float v0, float v1, float v2, float v3)
    {
        if (o >= g.OutC) return;
        float b = g.HasBias != 0 ? bias[o] : 0f;
        Store(y, g, o, col, v0 + b);
        Store(y, g, o, col + 16, v1 + b);
        Store(y, g, o, col + 32, v2 + b);
        Store(y, g, o, col + 48, v3 + b);
    }

    private static void Store(ArrayView<float> y, Conv2dGeometry g, int o, int col, float v)
    {
        if (col >= g.GemmN) return;
        int plane = g.OutPlane;
        int image = col / plane;
        int pixel = col - image * plane;
        y[(image * g.OutC + o) * plane + pixel] = g.Relu != 0 ? IntrinsicMath.Max(v, 0f) : v;
    }
}
