using ILGPU;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Conv;

/// <summary>The shapes the Winograd transforms read: the conv's input and output, its padding, and the tile grid.</summary>
public readonly struct WinogradGeometry
{
    /// <summary>The input shape, the output channels and size, the padding, the 2x2 output tile grid (rows, columns, total), and 1 for a bias / fused ReLU.</summary>
    public readonly int N, C, H, W, OutC, OutH, OutW, PadH, PadW, TilesH, TilesW, Tiles, HasBias, Relu;

    /// <summary>The geometry of a 3x3 stride-1 convolution.</summary>
    /// <param name="input">The input shape.</param>
    /// <param name="output">The output shape.</param>
    /// <param name="p">The convolution's parameters.</param>
    public WinogradGeometry(TensorShape input, TensorShape output, Conv2dParams p)
    {
        (N, C, H, W) = (input.N, input.C, input.H, input.W);
        (OutC, OutH, OutW) = (output.C, output.H, output.W);
        (PadH, PadW) = (p.PadH, p.PadW);
        TilesH = (output.H + 1) / 2;
        TilesW = (output.W + 1) / 2;
        Tiles = input.N * TilesH * TilesW;
        HasBias = p.HasBias ? 1 : 0;
        Relu = p.FuseRelu ? 1 : 0;
    }
}

/// <summary>
/// Version 5: Winograd F(2x2, 3x3) on the device for 3x3 stride-1 dilation-1 convolutions (one group), in three
/// launches: <see cref="Conv2d5Input"/> writes V[xi][c][tile] = (B^T d B)[xi] of every 4x4 input patch; the 16
/// products M[xi] = U[xi] (outC x C) x V[xi] (C x tiles) run as one grouped launch of the register-tiled GEMM
/// (<see cref="Conv2dGemmKernels.Conv2d4"/>, 16 groups of a 1x1 "convolution" over V, U = G g G^T packed once at
/// load); <see cref="Conv2d5Output"/> writes Y = A^T M A plus bias and ReLU (the odd last row or column cut off).
/// 16 multiplies per 2x2 outputs instead of 36, for 4x the input and output bytes through V and M: it wins where
/// channels are wide (docs/kernels/gpu-roofline.md has the numbers per layer).
/// Transform matrices as the CPU's WinogradConv: B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]], A^T = [[1,1,1,0],[0,1,-1,-1]].
/// </summary>
public static class Conv2dWinogradKernels
{
    /// <summary>One thread per (channel, tile): V[(4i+j)*C*Tiles + c*Tiles + tile] = (B^T d B)[i][j].</summary>
    [Kernel("conv2d")]
    public static void Conv2d5Input(Index1D index, ArrayView<float> x, ArrayView<float> v, WinogradGeometry g)
    {
        int i = index;
        int c = i / g.Tiles;
        int tile = i - c * g.Tiles;
        int tx = tile % g.TilesW;
        int t = tile / g.TilesW;
        int ty = t % g.TilesH;
        int n = t / g.TilesH;
        int y0 = 2 * ty - g.PadH, x0 = 2 * tx - g.PadW;
        int plane = (n * g.C + c) * g.H;
        var d0 = Row(x, g, plane, y0, x0);
        var d1 = Row(x, g, plane, y0 + 1, x0);
        var d2 = Row(x, g, plane, y0 + 2, x0);
        var d3 = Row(x, g, plane, y0 + 3, x0);
        // B^T d: rows d0 - d2, d1 + d2, d2 - d1, d1 - d3; then the same on the columns.
        long stride = (long)g.C * g.Tiles;
        int at = c * g.Tiles + tile;
        Columns(v, at, stride, 0, Sub(d0, d2));
        Columns(v, at, stride, 1, Add(d1, d2));
        Columns(v, at, stride, 2, Sub(d2, d1));
        Columns(v, at, stride, 3, Sub(d1, d3));
    }

    /// <summary>One thread per (image, output channel, tile): Y = A^T M A + bias, ReLU, from M[(4i+j)*OutC*Tiles + o*Tiles + tile].</summary>
    [Kernel("conv2d")]
    public static void Conv2d5Output(Index1D index, ArrayView<float> m, ArrayView<float> bias, ArrayView<float> y, WinogradGeometry g)
    {
        int i = index;
        int o = i / g.Tiles;
        int tile = i - o * g.Tiles;
        int tx = tile % g.TilesW;
        int t = tile / g.TilesW;
        int ty = t % g.TilesH;
        int n = t / g.TilesH;
        int stride = g.OutC * g.Tiles;
        int at = o * g.Tiles + tile;
        var m0 = Load(m, at, stride, 0);
        var m1 = Load(m, at, stride, 1);
        var m2 = Load(m, at, stride, 2);
        var m3 = Load(m, at, stride, 3);
        // A^T M: rows m0 + m1 + m2 and m1 - m2 - m3; then the same on the columns.
        var s0 = Add(Add(m0, m1), m2);
        var s1 = Sub(Sub(m1, m2), m3);
        float b = g.HasBias != 0 ? bias[o] : 0f;
        int oy = 2 * ty, ox = 2 * tx;
        int plane = (n * g.OutC + o) * g.OutH;
        Put(y, g, plane, oy, ox, s0.X + s0.Y + s0.Z + b);
        Put(y, g, plane, oy, ox + 1, s0.Y - s0.Z - s0.W + b);
        Put(y, g, plane, oy + 1, ox, s1.X + s1.Y + s1.Z + b);
        Put(y, g, plane, oy + 1, ox + 1, s1.Y - s1.Z - s1.W + b);
    }

    private static Vec4 Row(ArrayView<float> x, WinogradGeometry g, int plane, int iy, int x0)
    {
        if ((uint)iy >= (uint)g.H) return default;
        int row = (plane + iy) * g.W;
        return new Vec4 { X = At(x, g, row, x0), Y = At(x, g, row, x0 + 1), Z = At(x, g, row, x0 + 2), W = At(x, g, row, x0 + 3) };
    }

    private static float At(ArrayView<float> x, WinogradGeometry g, int row, int ix) => (uint)ix < (uint)g.W ? x[row + ix] : 0f;

    private static void Columns(ArrayView<float> v, int at, long stride, int i, Vec4 r)
    {
        long baseAt = at + 4 * i * stride;
        v[baseAt] = r.X - r.Z;
        v[baseAt + stride] = r.Y + r.Z;
        v[baseAt + 2 * stride] = r.Z - r.Y;
        v[baseAt + 3 * stride] = r.Y - r.W;
    }

    private static Vec4 Load(ArrayView<float> m, int at, int stride, int i)
    {
        int baseAt = at + 4 * i * stride;
        return new Vec4 { X = m[baseAt], Y = m[baseAt + stride], Z = m[baseAt + 2 * stride], W = m[baseAt + 3 * stride] };
    }

    private static void Put(ArrayView<float> y, WinogradGeometry g, int plane, int oy, int ox, float v)
    {
        if (oy < g.OutH && ox < g.OutW) y[(plane + oy) * g.OutW + ox] = g.Relu != 0 ? IntrinsicMath.Max(v, 0f) : v;
    }

    private static Vec4 Add(Vec4 a, Vec4 b) => new() { X = a.X + b.X, Y = a.Y + b.Y, Z = a.Z + b.Z, W = a.W + b.W };
    private static Vec4 Sub(Vec4 a, Vec4 b) => new() { X = a.X - b.X, Y = a.Y - b.Y, Z = a.Z - b.Z, W = a.W - b.W };
}
