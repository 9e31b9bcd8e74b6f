using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Conv;

/// <summary>
/// Winograd F(2x2, 3x3) for 3x3 stride-1 dilation-1 convs (Lavin &amp; Gray 2016): each 2x2 output tile comes from a
/// 4x4 input patch d as Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A, so a tile costs 16 multiplies per (in, out) channel pair
/// instead of 36. Summed over input channels, the element-wise products become 16 independent GEMMs
/// M[xi] = U[xi] (outC x inC) * V[xi] (inC x tiles), run on the same packed micro-kernel as <see cref="GemmConv"/>.
/// U = G g G^T is computed once at load. A task takes a block of tiles: it transforms their input into per-worker
/// scratch in the micro-kernel's B layout, then for each panel of MR output channels runs the 16 GEMMs into a small
/// buffer and immediately applies the output transform, bias and ReLU, so M never leaves the cache.
/// </summary>
internal sealed unsafe class WinogradConv
{
    // Auto no longer picks F(2x2): Winograd4x4Conv beat it on every SSD300 layer (bench/results/cpu-conv.md). It stays
    // available when forced (CpuConvAlgorithm.Winograd), e.g. where its 2.25x smaller error growth matters.
    private const int Xi = 16;

    private readonly Conv2dParams _p;
    private readonly int _inC, _outC, _threads, _panelsPerTask;
    private readonly MicroKernel _mk;
    private readonly WeightPanels _u;   // 16 "groups" of outC x inC
    private readonly float[] _bias;
    private readonly AlignedBuffer[] _v, _m;

    public WinogradConv(Conv2dParams p, int inC, int outC, ReadOnlySpan<float> weights, ReadOnlySpan<float> bias, MicroKernel mk, int threads)
    {
        (_p, _inC, _outC, _mk, _threads) = (p, inC, outC, mk, threads);
        _bias = p.HasBias ? bias.ToArray() : new float[outC];
        _u = new WeightPanels(TransformWeights(weights, inC, outC), default, false, Xi, outC, inC, mk.MR);
        _panelsPerTask = Math.Max(1, 96 / mk.NR);
        int tiles = _panelsPerTask * mk.NR;
        _v = new AlignedBuffer[threads];
        _m = new AlignedBuffer[threads];
        for (int i = 0; i < threads; i++)
        {
            _v[i] = new AlignedBuffer((long)Xi * inC * tiles);
            _m[i] = new AlignedBuffer((long)Xi * mk.MR * tiles);
        }
    }

    /// <summary>U[xi][o][c] = (G g[o,c] G^T)[xi] with G = [[1,0,0],[.5,.5,.5],[.5,-.5,.5],[0,0,1]].</summary>
    internal static float[] TransformWeights(ReadOnlySpan<float> w, int inC, int outC)
    {
        var u = new float[(long)Xi * outC * inC];
        Span<float> t = stackalloc float[12];
        for (int o = 0; o < outC; o++)
            for (int c = 0; c < inC; c++)
            {
                var g = w.Slice((o * inC + c) * 9, 9);
                for (int j = 0; j < 3; j++) // G g: rows of the 4x3 intermediate, column j
                {
                    float g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
                    t[j] = g0; t[3 + j] = 0.5f * (g0 + g1 + g2); t[6 + j] = 0.5f * (g0 - g1 + g2); t[9 + j] = g2;
                }
                for (int i = 0; i < 4; i++) // (G g) G^T
                {
                    float a0 = t[3 * i], a1 = t[3 * i + 1], a2 = t[3 * i + 2];
                    long at = (long)o * inC + c;
                    u[(4 * i + 0) * (long)outC * inC + at] = a0;
                    u[(4 * i + 1) * (long)outC * inC + at] = 0.5f * (a0 + a1 + a2);
                    u[(4 * i + 2) * (long)outC * inC + at] = 0.5f * (a0 - a1 + a2);
                    u[(4 * i + 3) * (long)outC * inC + at] = a2;
                }
            }
        return u;
    }

    private readonly record struct Plan(nint X, nint Y, TensorShape Xs, TensorShape Ys, int TilesW, int Tiles,
        int NBlocks, int TilesPerNBlock, int MBlocks, int PanelsPerMBlock);

    public void Forward(ReadOnlySpan<float> x, TensorShape xs, Span<float> y, TensorShape ys)
    {
        int tilesW = (ys.W + 1) / 2, tiles = tilesW * ((ys.H + 1) / 2), nr = _mk.NR;
        int tilePanels = (tiles + nr - 1) / nr;
        int nBlocks = (tilePanels + _panelsPerTask - 1) / _panelsPerTask;
        int tilesPerN = (tilePanels + nBlocks - 1) / nBlocks * nr;
        nBlocks = (tiles + tilesPerN - 1) / tilesPerN;
        int perImage = xs.N * nBlocks;
        // Every output-channel block redoes the input transform, so split channels only as far as it takes to feed the workers.
        int mBlocks = Math.Clamp((2 * _threads + perImage - 1) / perImage, 1, _u.PanelsPerGroup);
        int panelsPerM = (_u.PanelsPerGroup + mBlocks - 1) / mBlocks;
        mBlocks = (_u.PanelsPerGroup + panelsPerM - 1) / panelsPerM;
        int workers = WorkerPool.WorkersFor(2.0 * Xi * xs.N * tiles * _inC * _outC, _threads);
        fixed (float* px = x, py = y)
        {
            var plan = new Plan((nint)px, (nint)py, xs, ys, tilesW, tiles, nBlocks, tilesPerN, mBlocks, panelsPerM);
            WorkerPool.Run(perImage * mBlocks, workers, (this, plan), static (s, worker, t) => s.Item1.RunTask(s.plan, worker, t));
        }
    }

    private void RunTask(in Plan plan, int worker, int task)
    {
        int nb = task % plan.NBlocks; task /= plan.NBlocks;
        int mb = task % plan.MBlocks;
        int n = task / plan.MBlocks;
        int t0 = nb * plan.TilesPerNBlock, count = Math.Min(plan.TilesPerNBlock, plan.Tiles - t0);
        int nr = _mk.NR, mr = _mk.MR, panels = (count + nr - 1) / nr, ldm = panels * nr;
        var xs = plan.Xs;
        float* v = _v[worker].Pointer, m = _m[worker].Pointer;

        TransformInput((float*)plan.X + (long)n * _inC * xs.H * xs.W, xs, plan.TilesW, t0, count, panels, v);

        int r0 = mb * plan.PanelsPerMBlock, r1 = Math.Min(_u.PanelsPerGroup, r0 + plan.PanelsPerMBlock);
        long vStride = (long)panels * _inC * nr;   // one xi's B matrix
        for (int r = r0; r < r1; r++)
        {
            for (int xi = 0; xi < Xi; xi++)
            {
                float* a = _u.Data.Pointer + _u.PanelOffset(xi, r, 0);
                for (int q = 0; q < panels; q++)
                    _mk.Run(_inC, a, v + xi * vStride + (long)q * _inC * nr, nr, m + (long)xi * mr * ldm + q * nr, ldm, null, 0);
            }
            int rows = Math.Min(mr, _outC - r * mr);
            TransformOutput(m, ldm, r * mr, rows, t0, count, plan, (float*)plan.Y + (long)n * _outC * plan.Ys.H * plan.Ys.W);
        }
    }

    /// <summary>
    /// V = B^T d B per tile and channel, B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]], written as
    /// v[xi][panel][c][lane] (tile t0 + panel*NR + lane). Lanes past the last tile are zeroed.
    /// </summary>
    private void TransformInput(float* x, TensorShape xs, int tilesW, int t0, int count, int panels, float* v)
    {
        int nr = _mk.NR, h = xs.H, w = xs.W, pad = _p.PadH, padW = _p.PadW;
        long vStride = (long)panels * _inC * nr, plane = (long)h * w;
        float* d = stackalloc float[16];
        for (int j = count; j < panels * nr; j++)
        {
            int q = j / nr, lane = j % nr;
            for (int c = 0; c < _inC; c++)
                for (int xi = 0; xi < Xi; xi++) v[xi * vStride + ((long)q * _inC + c) * nr + lane] = 0f;
        }
        for (int j = 0; j < count; j++)
        {
            int t = t0 + j, ty = t / tilesW, tx = t % tilesW;
            int iy0 = 2 * ty - pad, ix0 = 2 * tx - padW;
            bool inside = iy0 >= 0 && ix0 >= 0 && iy0 + 4 <= h && ix0 + 4 <= w;
            float* dst = v + (long)(j / nr) * _inC * nr + j % nr;
            for (int c = 0; c < _inC; c++, dst += nr)
            {
                float* src = x + c * plane;
                if (inside)
                {
                    float* s = src + (long)iy0 * w + ix0;
                    for (int i = 0; i < 4; i++, s += w) { d[4 * i] = s[0]; d[4 * i + 1] = s[1]; d[4 * i + 2] = s[2]; d[4 * i + 3] = s[3]; }
                }
                else
                    for (int i = 0; i < 4; i++)
                        for (int k = 0; k < 4; k++)
                        {
                            int iy = iy0 + i, ix = ix0 + k;
                            d[4 * i + k] = (uint)iy < (uint)h && (uint)ix < (uint)w ? src[(long)iy * w + ix] : 0f;
                        }
                // Rows: B^T d.
                for (int k = 0; k < 4; k++)
                {
                    float d0 = d[k], d1 = d[4 + k], d2 = d[8 + k], d3 = d[12 + k];
                    d[k] = d0 - d2; d[4 + k] = d1 + d2; d[8 + k] = d2 - d1; d[12 + k] = d1 - d3;
                }
                // Columns: (B^T d) B.
                for (int i = 0; i < 4; i++)
                {
                    float d0 = d[4 * i], d1 = d[4 * i + 1], d2 = d[4 * i + 2], d3 = d[4 * i + 3];
                    dst[(4 * i + 0) * vStride] = d0 - d2;
                    dst[(4 * i + 1) * vStride] = d1 + d2;
                    dst[(4 * i + 2) * vStride] = d2 - d1;
                    dst[(4 * i + 3) * vStride] = d1 - d3;
                }
            }
        }
    }

    /// <summary>Y = A^T M A, A^T = [[1,1,1,0],[0,1,-1,-1]], plus bias and ReLU; the odd last row/column is cut off.</summary>
    private void TransformOutput(float* m, int ldm, int o0, int rows, int t0, int count, in Plan plan, float* y)
    {
        int mr = _mk.MR, oh = plan.Ys.H, ow = plan.Ys.W;
        long xiStride = (long)mr * ldm;
        bool relu = _p.FuseRelu;
        for (int i = 0; i < rows; i++)
        {
            float bias = _bias[o0 + i];
            float* yPlane = y + (long)(o0 + i) * oh * ow;
            for (int j = 0; j < count; j++)
            {
                float* s = m + (long)i * ldm + j;
                float m0 = s[0], m1 = s[xiStride], m2 = s[2 * xiStride], m3 = s[3 * xiStride];
                float m4 = s[4 * xiStride], m5 = s[5 * xiStride], m6 = s[6 * xiStride], m7 = s[7 * xiStride];
                float m8 = s[8 * xiStride], m9 = s[9 * xiStride], m10 = s[10 * xiStride], m11 = s[11 * xiStride];
                float m12 = s[12 * xiStride], m13 = s[13 * xiStride], m14 = s[14 * xiStride], m15 = s[15 * xiStride];
                // A^T M: two rows of four.
                float r00 = m0 + m4 + m8, r01 = m1 + m5 + m9, r02 = m2 + m6 + m10, r03 = m3 + m7 + m11;
                float r10 = m4 - m8 - m12, r11 = m5 - m9 - m13, r12 = m6 - m10 - m14, r13 = m7 - m11 - m15;
                float y00 = bias + r00 + r01 + r02, y01 = bias + r01 - r02 - r03;
                float y10 = bias + r10 + r11 + r12, y11 = bias + r11 - r12 - r13;
                if (relu) { y00 = MathF.Max(y00, 0); y01 = MathF.Max(y01, 0); y10 = MathF.Max(y10, 0); y11 = MathF.Max(y11, 0); }
                int t = t0 + j, oy = 2 * (t / plan.TilesW), ox = 2 * (t % plan.TilesW);
                float* dst = yPlane + (long)oy * ow + ox;
                dst[0] = y00;
                bool right = ox + 1 < ow, below = oy + 1 < oh;
                if (right) dst[1] = y01;
                if (below) { dst[ow] = y10; if (right) dst[ow + 1] = y11; }
            }
        }
    }
}
