using System.Runtime.Intrinsics.X86;
using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Conv;

/// <summary>
/// Winograd F(4x4, 3x3) for 3x3 stride-1 dilation-1 convs (transforms: <see cref="WinogradF4x4"/>). Summed over input
/// channels, the 36 element-wise products of a tile become 36 independent GEMMs M[xi] = U[xi] (outC x inC) *
/// V[xi] (inC x tiles), run on the packed micro-kernel with U = G g G^T packed once at load.
/// The tiles of an image are taken in blocks (all of them when the scratch budget allows) and each block in three
/// parallel phases: (1) the input transform, split over input channels, writes V[xi][c][lane] (one tile per lane,
/// lanes contiguous so V[xi] is directly the micro-kernel's B with row stride ldv); (2) the 36 GEMMs, one task per xi,
/// so V[xi] stays in L2 while every weight panel of U[xi] passes over it once per block; (3) the output transform with
/// bias and ReLU, split over output channels. Phases (1) and (3) vectorise over 16 tiles on AVX-512 (scalar otherwise).
/// Splitting the GEMMs over xi rather than over tiles keeps every worker busy on small images (a 19x19 map has 25 tiles)
/// and reads the transformed weights, 4x the size of the plain ones, once per block instead of once per worker.
/// </summary>
internal sealed unsafe class Winograd4x4Conv
{
    private const int Xi = WinogradF4x4.Xi, Alpha = WinogradF4x4.Alpha, T = WinogradF4x4.Tile;
    /// <summary>Bounds on V + M floats per block (4 MB .. 24 MB; tests pass less to exercise several blocks): big enough that SSD300's 38x38 layers are one block.</summary>
    public const long ScratchBudget = 6L << 20, MinScratch = 1L << 20;
    /// <summary>Slack lanes after each V/M row: the 16-lane vector transforms may run past the block's last tile.</summary>
    private const int Slack = 16;

    private readonly Conv2dParams _p;
    private readonly int _inC, _outC, _threads, _maxLanes;
    private readonly MicroKernel _mk;
    private readonly WeightPanels _u; // 36 "groups" of outC x inC
    private readonly float[] _bias;
    private readonly bool _vector;
    // V and M scratch, shared by every layer that runs on the calling thread (a layer is used by one caller at a time;
    // workers reach the buffers through the plan). Grown on first use, so steady-state calls allocate nothing.
    [ThreadStatic] private static AlignedBuffer? s_v, s_m;
    private readonly int _outRows;    // outC padded to the micro-kernel's MR

    public Winograd4x4Conv(Conv2dParams p, int inC, int outC, ReadOnlySpan<float> weights, ReadOnlySpan<float> bias, MicroKernel mk, int threads,
        long scratchBudget = -1)
    {
        (_p, _inC, _outC, _mk, _threads) = (p, inC, outC, mk, threads);
        _bias = p.HasBias ? bias.ToArray() : new float[outC];
        _u = new WeightPanels(false, Xi, outC, inC, mk.MR);
        FillU(weights);
        _outRows = _u.PanelsPerGroup * mk.MR;
        _vector = mk.Isa == CpuIsa.Avx512;
        // Scratch per block: V + M. Each block re-reads all of U, so wide layers (U = 4x the weights: 38 MB for
        // 512 -> 512) want few, big blocks, while narrow ones want V and M small enough to stay in the L3.
        if (scratchBudget < 0) scratchBudget = Math.Clamp(2L * Xi * inC * outC, MinScratch, ScratchBudget);
        long perLane = (long)Xi * (inC + _outRows);
        _maxLanes = (int)Math.Max(mk.NR, scratchBudget / perLane / mk.NR * mk.NR);
    }

    /// <summary>The layer's new weights and bias, transformed and packed in place (a training step's refresh).</summary>
    public void Refresh(ReadOnlySpan<float> weights, ReadOnlySpan<float> bias)
    {
        FillU(weights);
        if (_p.HasBias) bias.CopyTo(_bias);
    }

    // A block of MR output channels' U, staged here before packing, so a refresh leaves no 4x-the-weights garbage.
    [ThreadStatic] private static float[]? s_block;

    /// <summary>
    /// U = the F(4x4) transform of the weights, MR output channels at a time (a task each, over the layer's threads:
    /// a training step refreshes every layer), into the panels.
    /// </summary>
    private unsafe void FillU(ReadOnlySpan<float> weights)
    {
        int blocks = (_outC + _mk.MR - 1) / _mk.MR;
        fixed (float* pw = weights)
        {
            var job = (Layer: this, W: (nint)pw, Length: weights.Length);
            WorkerPool.Run(blocks, WorkerPool.WorkersFor(200.0 * weights.Length, _threads), job,
                static (j, _, block) => j.Layer.FillBlock(new ReadOnlySpan<float>((float*)j.W, j.Length), block * j.Layer._mk.MR));
        }
    }

    private void FillBlock(ReadOnlySpan<float> weights, int o0)
    {
        int mr = _mk.MR, count = Math.Min(mr, _outC - o0);
        if (Avx512F.IsSupported && count % 8 == 0)
        {
            WinogradF4x4.TransformWeightsToPanel(weights, _inC, o0, count, _u.Data.Pointer + _u.PanelOffset(0, o0 / mr, 0), _u.PanelOffset(1, 0, 0), mr);
            return;
        }
        long need = (long)Xi * mr * _inC;
        if (s_block is null || s_block.Length < need) s_block = new float[need];
        var block = s_block.AsSpan(0, Xi * count * _inC);
        WinogradF4x4.TransformWeights(weights.Slice(o0 * _inC * 9, count * _inC * 9), _inC, count, block);
        for (int xi = 0; xi < Xi; xi++) _u.FillRows(xi, o0, block.Slice(xi * count * _inC, count * _inC), count);
    }

    /// <summary>Tiles per row and column of the 4x4 output tiling.</summary>
    public static (int W, int H) TileGrid(TensorShape ys) => ((ys.W + T - 1) / T, (ys.H + T - 1) / T);

    private readonly record struct Plan(nint X, nint Y, nint V, nint M, TensorShape Xs, TensorShape Ys, int TilesW, int N, int T0, int Count,
        int Ldv, long VXi, long MXi, int InChunk, int OutChunk);

    public void Forward(ReadOnlySpan<float> x, TensorShape xs, Span<float> y, TensorShape ys)
    {
        var (tilesW, tilesH) = TileGrid(ys);
        int tiles = tilesW * tilesH, nr = _mk.NR;
        int blocks = (tiles + _maxLanes - 1) / _maxLanes;
        int perBlock = (tiles + blocks - 1) / blocks;
        int ldv = (perBlock + nr - 1) / nr * nr + Slack;
        long vXi = (long)_inC * ldv, mXi = (long)_outRows * ldv;
        var vBuf = Grow(ref s_v, Xi * vXi + Slack);
        var mBuf = Grow(ref s_m, Xi * mXi + Slack);
        int workers = WorkerPool.WorkersFor(2.0 * Xi * xs.N * tiles * _inC * _outC, _threads);
        // Channel chunks for the transforms: a few per worker so a slow core does not hold the phase up.
        int inChunk = Math.Max(1, _inC / (4 * workers)), outChunk = Math.Max(1, _outC / (4 * workers));
        fixed (float* px = x, py = y)
        {
            for (int n = 0; n < xs.N; n++)
                for (int t0 = 0; t0 < tiles; t0 += perBlock)
                {
                    var plan = new Plan((nint)px, (nint)py, (nint)vBuf.Pointer, (nint)mBuf.Pointer, xs, ys, tilesW, n, t0, Math.Min(perBlock, tiles - t0), ldv, vXi, mXi, inChunk, outChunk);
                    WorkerPool.Run((_inC + inChunk - 1) / inChunk, workers, (this, plan), static (s, _, t) => s.Item1.InputTask(s.plan, t));
                    WorkerPool.Run(Xi, workers, (this, plan), static (s, _, t) => s.Item1.GemmTask(s.plan, t));
                    WorkerPool.Run((_outC + outChunk - 1) / outChunk, workers, (this, plan), static (s, _, t) => s.Item1.OutputTask(s.plan, t));
                }
        }
    }

    private static AlignedBuffer Grow(ref AlignedBuffer? buffer, long length)
    {
        if (buffer is null || buffer.Length < length) buffer = new AlignedBuffer(length);
        return buffer;
    }

    /// <summary>Phase 1: V for input channels [c0, c1) of the block.</summary>
    private void InputTask(in Plan plan, int task)
    {
        int c0 = task * plan.InChunk, c1 = Math.Min(_inC, c0 + plan.InChunk);
        var xs = plan.Xs;
        int tilesW = plan.TilesW;
        // Six zero-padded input rows per tile row; wide enough for whole 16-tile vectors plus the 2-column overlap.
        int stride = (T * tilesW + 64 + 15) / 16 * 16;
        float[]? big = Alpha * stride > 16384 ? GC.AllocateUninitializedArray<float>(Alpha * stride, pinned: true) : null;
        float* rows = stackalloc float[big is null ? Alpha * stride : 0];
        if (big is not null) rows = (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref big[0]);
        float* tmp = stackalloc float[Xi * 16 + 16];
        tmp = (float*)(((nint)tmp + 63) & ~(nint)63);
        float* v = (float*)plan.V;
        float* image = (float*)plan.X + (long)plan.N * _inC * xs.H * xs.W;
        int tyFirst = plan.T0 / tilesW, tyLast = (plan.T0 + plan.Count - 1) / tilesW;
        for (int c = c0; c < c1; c++)
        {
            float* plane = image + (long)c * xs.H * xs.W;
            for (int ty = tyFirst; ty <= tyLast; ty++)
            {
                int txa = ty == tyFirst ? plan.T0 % tilesW : 0;
                int txb = ty == tyLast ? (plan.T0 + plan.Count - 1) % tilesW + 1 : tilesW;
                StageRows(plane, xs.H, xs.W, T * ty - _p.PadH, rows, stride);
                int lane0 = ty * tilesW - plan.T0;
                float* dst = v + (long)c * plan.Ldv;
                if (_vector)
                    for (int tx = txa; tx < txb; tx += 16)
                        WinogradF4x4.InputTiles16(rows + T * tx, stride, tmp, dst + lane0 + tx, plan.VXi);
                else
                    for (int tx = txa; tx < txb; tx++)
                    {
                        float* d = tmp;
                        for (int i = 0; i < Alpha; i++) // rows: (d B)[i][k] via B^T on the row's 6 values
                            WinogradF4x4.InputRow(rows + (long)i * stride + T * tx, 1, d + i * Alpha, 1);
                        for (int k = 0; k < Alpha; k++) // columns
                            WinogradF4x4.InputRow(d + k, Alpha, dst + lane0 + tx + k * plan.VXi, Alpha * plan.VXi);
                    }
            }
        }
        GC.KeepAlive(big);
    }

    /// <summary>Copies input rows iy0..iy0+5 into the staging rows, column u = input column u - padW, zeros outside.</summary>
    private void StageRows(float* plane, int h, int w, int iy0, float* rows, int stride)
    {
        int padW = _p.PadW;
        for (int i = 0; i < Alpha; i++)
        {
            var row = new Span<float>(rows + (long)i * stride, stride);
            int iy = iy0 + i;
            if ((uint)iy >= (uint)h) { row.Clear(); continue; }
            // Columns [padW, padW + w) hold the image row; a left pad larger than the staging row cannot happen (pad < 3).
            int lead = Math.Min(padW, stride);
            row[..lead].Clear();
            int n = Math.Min(w, stride - lead);
            new ReadOnlySpan<float>(plane + (long)iy * w, n).CopyTo(row.Slice(lead, n));
            row[(lead + n)..].Clear();
        }
    }

    /// <summary>Phase 2: M[xi] = U[xi] * V[xi] for every output channel and lane panel of the block.</summary>
    private void GemmTask(in Plan plan, int xi)
    {
        int nr = _mk.NR, mr = _mk.MR, panels = (plan.Count + nr - 1) / nr;
        float* b = (float*)plan.V + xi * plan.VXi, m = (float*)plan.M + xi * plan.MXi;
        for (int r = 0; r < _u.PanelsPerGroup; r++)
        {
            float* a = _u.Data.Pointer + _u.PanelOffset(xi, r, 0);
            for (int q = 0; q < panels; q++)
                _mk.Run(_inC, a, b + q * nr, plan.Ldv, m + (long)r * mr * plan.Ldv + q * nr, plan.Ldv, null, 0);
        }
    }

    /// <summary>Phase 3: Y = A^T M A + bias (ReLU) for output channels [o0, o1) of the block; cuts the ragged edge tiles.</summary>
    private void OutputTask(in Plan plan, int task)
    {
        int o0 = task * plan.OutChunk, o1 = Math.Min(_outC, o0 + plan.OutChunk);
        var ys = plan.Ys;
        int tilesW = plan.TilesW, oh = ys.H, ow = ys.W;
        float* tmp = stackalloc float[24 * 16 + 16];
        tmp = (float*)(((nint)tmp + 63) & ~(nint)63);
        float* line = stackalloc float[T * 64 + 16];
        line = (float*)(((nint)line + 63) & ~(nint)63);
        float* yImage = (float*)plan.Y + (long)plan.N * _outC * oh * ow;
        bool relu = _p.FuseRelu;
        int tyFirst = plan.T0 / tilesW, tyLast = (plan.T0 + plan.Count - 1) / tilesW;
        for (int o = o0; o < o1; o++)
        {
            float* m = (float*)plan.M + (long)o * plan.Ldv;
            float* yPlane = yImage + (long)o * oh * ow;
            float bias = _bias[o];
            for (int ty = tyFirst; ty <= tyLast; ty++)
            {
                int txa = ty == tyFirst ? plan.T0 % tilesW : 0;
                int txb = ty == tyLast ? (plan.T0 + plan.Count - 1) % tilesW + 1 : tilesW;
                int lane0 = ty * tilesW - plan.T0, oy = T * ty, rows = Math.Min(T, oh - oy);
                if (_vector)
                    for (int tx = txa; tx < txb; tx += 16)
                    {
                        int ox = T * tx, cols = Math.Min(T * Math.Min(16, txb - tx), ow - ox);
                        float* dst = yPlane + (long)oy * ow + ox;
                        if (cols == 64) { WinogradF4x4.OutputTiles16(m + lane0 + tx, plan.MXi, bias, relu, tmp, dst, ow, rows); continue; }
                        WinogradF4x4.OutputTiles16(m + lane0 + tx, plan.MXi, bias, relu, tmp, line, 64, rows);
                        for (int r = 0; r < rows; r++)
                            new ReadOnlySpan<float>(line + r * 64, cols).CopyTo(new Span<float>(dst + (long)r * ow, cols));
                    }
                else
                    for (int tx = txa; tx < txb; tx++)
                    {
                        float* s = m + lane0 + tx;
                        for (int k = 0; k < Alpha; k++) // A^T M: column k
                            WinogradF4x4.OutputRow(s + k * plan.MXi, Alpha * plan.MXi, tmp + k, Alpha);
                        int ox = T * tx, cols = Math.Min(T, ow - ox);
                        for (int r = 0; r < rows; r++)
                        {
                            WinogradF4x4.OutputRow(tmp + r * Alpha, 1, line, 1);
                            float* dst = yPlane + (long)(oy + r) * ow + ox;
                            for (int j = 0; j < cols; j++)
                            {
                                float yv = line[j] + bias;
                                dst[j] = relu ? MathF.Max(yv, 0f) : yv;
                            }
                        }
                    }
            }
        }
    }
}
