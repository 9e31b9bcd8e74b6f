using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Conv;

/// <summary>
/// dw of a 3x3, stride-1, dilation-1, ungrouped convolution with padding p &lt;= 2 by Winograd F(4x4, 3x3), the
/// adjoint of the forward's (<see cref="Winograd4x4Conv"/>, transforms in <see cref="WinogradF4x4"/>). A 4x4 output
/// tile is y = A^T [ (G w G^T) ⊙ (B^T x B) ] A, so the gradient of its weights is
/// <code>dw = G^T [ (A g A^T) ⊙ (B^T x B) ] G</code>
/// for the tile's 4x4 gradient g (zero past the map) and its 6x6 input patch x, and summed over tiles (of every image)
/// that is 36 GEMMs M[o][xi][c] (outC x inC for each xi) = sum over tiles of U[xi][o][tile] V[xi][c][tile], then one G^T M G per channel
/// pair: 36 multiplies per tile and pair instead of the direct dw's 144.
/// The tiles are taken in blocks (all of an image's when the scratch budget allows), each in two parallel phases:
/// (1) the transforms, split into groups of 16 channels of x (V) and of g (U), vectorised over 16 tiles on AVX-512 and
/// transposed so that the tiles are the GEMM's reduction: V[xi] as rows [tile][inC] (the micro-kernel's B), U[xi] as
/// panels [tile][MR] (its A); (2) the 36 GEMMs on the forward's <see cref="MicroKernel"/>, one task per xi, added to
/// M from the second block on, chunk of output channels by chunk; after the last block each chunk's G^T M G (split
/// over its output channels) writes its dw rows while its M is still in the cache.
/// Every task writes fixed places in a fixed order, so the result does not depend on the thread count.
/// Scratch (V, U and M, M one chunk when an image's tiles are one block: the largest layer's, about 24 MB) belongs to
/// the calling thread, as the forward's.
/// </summary>
internal sealed unsafe class WinogradWeightGradient
{
    private const int Xi = WinogradF4x4.Xi, Alpha = WinogradF4x4.Alpha, T = WinogradF4x4.Tile, L = 16;
    /// <summary>
    /// V + U floats per block of tiles where M is small (the thin early layers: the block stays in the caches between
    /// its transforms and its GEMMs) and where it is not (one block per image, so M, 39 MB for 512 -> 512, is written
    /// once per image); measured on SSD300's layers (conv1_2: 78 -> 38 ms a call from the first to the second).
    /// </summary>
    public const long SmallBlock = 512L << 10, LargeBlock = 4L << 20, SmallM = 1L << 20;
    /// <summary>M floats per chunk of output channels, whose taps are taken while its M is in the cache.</summary>
    public const long MChunk = 2L << 20;
    /// <summary>
    /// Tiles per image below which <see cref="Picks"/> keeps the direct dw: a 38x38 map has 100 (F(4x4) 0.51x the
    /// direct dw's time on 512 -> 512), a 19x19 one 25 (1.05x: M, 4x dw's size, costs as much as the multiplies saved;
    /// at batch 8, 1.01x), a 10x10 one 9 (SSD300's conv8_2 heads at batch 8: 2-2.5x).
    /// </summary>
    public const int MinTiles = 50;

    private readonly MicroKernel _mk;
    private readonly int _inC, _outC, _threads, _ciPad, _coPanels, _inGroups, _outGroups;
    private readonly long _budget;
    private readonly int _chunkPanels;
    /// <summary>
    /// M is [outC][xi][inC padded to NR]: an output channel's 36 rows are contiguous, so its taps read one block (rows
    /// 36 * 1 MB apart, as in [xi][outC][inC] for 512 -> 512, all map to one L1 set and thrash it).
    /// </summary>
    private long MRow => (long)Xi * _ciPad;
    private readonly bool _vector;
    [ThreadStatic] private static AlignedBuffer? s_v, s_u, s_m;
    // Per worker: staged rows of 16 channels and their 16 tiles' transforms.
    [ThreadStatic] private static float[]? s_stage, s_tiles;

    public Conv2dParams Params { get; }
    public CpuIsa Isa { get; }

    /// <param name="p">The layer's parameters.</param>
    /// <param name="inChannels">x's channels.</param>
    /// <param name="outChannels">g's channels.</param>
    /// <param name="options">ISA and threads.</param>
    /// <param name="blockBudget">V + U floats per block of tiles; -1: <see cref="SmallBlock"/> or <see cref="LargeBlock"/>
    /// by M's size (tests pass less to exercise several blocks).</param>
    /// <param name="chunk">M floats per chunk of output channels (tests pass less to exercise several).</param>
    public WinogradWeightGradient(Conv2dParams p, int inChannels, int outChannels, CpuOpOptions options = default, long blockBudget = -1,
        long chunk = MChunk)
    {
        if (!Applies(p)) throw new ArgumentException($"winograd dw: needs a 3x3, stride-1, ungrouped conv with padding <= 2, got {p}");
        (Params, _inC, _outC) = (p, inChannels, outChannels);
        Isa = options.ResolvedIsa;
        _threads = options.ResolvedThreads;
        _mk = MicroKernel.For(Isa);
        _vector = Isa == CpuIsa.Avx512;
        if (_mk.NR % L != 0) throw new InvalidOperationException($"winograd dw: the micro-kernel's NR {_mk.NR} is not a multiple of {L}");
        _ciPad = (inChannels + _mk.NR - 1) / _mk.NR * _mk.NR;
        _coPanels = (outChannels + _mk.MR - 1) / _mk.MR;
        _inGroups = _ciPad / L;
        _outGroups = (outChannels + L - 1) / L;
        _budget = blockBudget >= 0 ? blockBudget : (long)Xi * _coPanels * _mk.MR * _ciPad <= SmallM ? SmallBlock : LargeBlock;
        _chunkPanels = (int)Math.Clamp(chunk / ((long)Xi * _mk.MR * _ciPad), 1, _coPanels);
    }

    /// <summary>Whether dw of a layer with <paramref name="p"/> can run here (the staging assumes padding &lt;= 2).</summary>
    public static bool Applies(Conv2dParams p) => CpuConv2d.IsWinogradEligible(p) && p.PadH <= 2 && p.PadW <= 2;

    /// <summary>
    /// Whether the layer's dw on input <paramref name="xs"/> should run here rather than as the direct GEMM: on AVX-512
    /// (the vector transforms), where F(4x4)'s padded GEMM work, 36 per tile per pair times 1.25 for the transforms, is
    /// below the direct dw's 9 per pixel; both count whole micro-kernel panels (F(4x4): inC rounded up to NR; direct: the
    /// inC*9 taps rounded up to NR), so conv1_1 (3 input channels) keeps the direct dw; and on maps of at least
    /// <see cref="MinTiles"/> tiles: below, M's traffic and the phases' fixed costs lose (measured on SSD300's 19x19 and smaller maps).
    /// </summary>
    public bool Picks(TensorShape xs)
    {
        if (!_vector) return false;
        var ys = Params.OutputShape(xs, _outC);
        var (tw, th) = Winograd4x4Conv.TileGrid(ys);
        if (tw * th < MinTiles) return false;
        long kPad = ((long)_inC * 9 + _mk.NR - 1) / _mk.NR * _mk.NR;
        double winograd = 1.25 * Xi * tw * th * _ciPad, direct = (double)ys.H * ys.W * kPad;
        return winograd < direct;
    }

    private readonly record struct Plan(nint X, nint G, nint V, nint U, nint M, TensorShape Xs, TensorShape Ys, int TilesW, int N, int T0, int Count,
        int Lanes, long VXi, long UXi, int StageStride);

    /// <summary>dw (overwritten) from input <paramref name="x"/> and the pre-activation gradient <paramref name="g"/>.</summary>
    public void Run(ReadOnlySpan<float> x, TensorShape xs, ReadOnlySpan<float> g, Span<float> dw)
    {
        var ys = Params.OutputShape(xs, _outC);
        if (xs.C != _inC || x.Length != xs.Count || g.Length != ys.Count || dw.Length != Params.WeightCount(_inC, _outC))
            throw new ArgumentException($"winograd dw: x {x.Length} floats for {xs}, g {g.Length} for {ys}, dw {dw.Length}: they do not fit the layer {_inC} -> {_outC}");
        var (tilesW, tilesH) = Winograd4x4Conv.TileGrid(ys);
        int tiles = tilesW * tilesH, mr = _mk.MR;
        long perLane = (long)Xi * (_ciPad + _coPanels * mr);
        int maxLanes = (int)Math.Clamp(_budget / perLane, 1, tiles);
        int blocks = (tiles + maxLanes - 1) / maxLanes, perBlock = (tiles + blocks - 1) / blocks;
        long vXi = (long)perBlock * _ciPad, uXi = (long)perBlock * _coPanels * mr;
        var v = Grow(ref s_v, Xi * vXi);
        var u = Grow(ref s_u, Xi * uXi);
        // One block in all (an image whose tiles fit the budget): M holds one chunk of output channels at a time.
        bool single = xs.N * blocks == 1;
        var m = Grow(ref s_m, (single ? Math.Min(_coPanels, _chunkPanels) : _coPanels) * mr * MRow);
        int stageStride = (T * tilesW + 64 + 15) / 16 * 16;
        int workers = WorkerPool.WorkersFor(2.0 * Xi * xs.N * tiles * _inC * _outC, _threads);
        fixed (float* px = x, pg = g, pdw = dw)
        {
            for (int n = 0; n < xs.N; n++)
                for (int t0 = 0; t0 < tiles; t0 += perBlock)
                {
                    var plan = new Plan((nint)px, (nint)pg, (nint)v.Pointer, (nint)u.Pointer, (nint)m.Pointer, xs, ys, tilesW, n, t0,
                        Math.Min(perBlock, tiles - t0), perBlock, vXi, uXi, stageStride);
                    WorkerPool.Run(_inGroups + _outGroups, workers, (this, plan), static (s, _, t) => s.Item1.TransformTask(s.plan, t));
                    bool first = n == 0 && t0 == 0, last = n == xs.N - 1 && t0 + perBlock >= tiles;
                    // Output channels chunk by chunk: after the last block, a chunk's taps are taken while its M is in the cache.
                    for (int r0 = 0; r0 < _coPanels; r0 += _chunkPanels)
                    {
                        int r1 = Math.Min(_coPanels, r0 + _chunkPanels);
                        // M's rows are indexed by output channel; with one block the buffer starts at the chunk's first.
                        var chunk = plan with { M = (nint)(m.Pointer - (single ? r0 * mr * MRow : 0)) };
                        WorkerPool.Run(Xi, workers, (this, chunk, first, r0, r1), static (s, _, xi) => s.Item1.GemmTask(s.chunk, xi, s.first, s.r0, s.r1));
                        if (!last) continue;
                        int o0 = r0 * mr, o1 = Math.Min(_outC, r1 * mr);
                        var taps = (Layer: this, M: chunk.M, Dw: (nint)pdw, O0: o0);
                        WorkerPool.Run(o1 - o0, (o1 - o0) * _inC < 16384 ? 1 : workers, taps,
                            static (s, _, o) => s.Layer.TapsTask((float*)s.M, (float*)s.Dw, s.O0 + o));
                    }
                }
        }
    }

    private static AlignedBuffer Grow(ref AlignedBuffer? buffer, long length)
    {
        if (buffer is null || buffer.Length < length) buffer = new AlignedBuffer(length);
        return buffer;
    }

    private static float* Scratch(ref float[]? buffer, int length)
    {
        if (buffer is null || buffer.Length < length) buffer = GC.AllocateArray<float>(length + 16, pinned: true);
        fixed (float* p = buffer) return (float*)(((nint)p + 63) & ~(nint)63);
    }

    /// <summary>
    /// Phase 1: the transforms of 16 channels (a group of x's, for V, or of g's, for U) over the block's tiles.
    /// Channels past the layer's (V's padding to NR, U's last group) are zero.
    /// </summary>
    private void TransformTask(in Plan plan, int task)
    {
        bool isInput = task < _inGroups;
        int c0 = (isInput ? task : task - _inGroups) * L, channels = isInput ? _inC : _outC;
        int real = Math.Clamp(channels - c0, 0, L);
        int stride = plan.StageStride;
        float* stage = Scratch(ref s_stage, L * Alpha * stride);
        float* tiles = Scratch(ref s_tiles, L * Xi * L + Xi * L);
        float* tmp = tiles + L * Xi * L;
        if (isInput && real == 0)
        {
            // V's padding to NR: zero columns, nothing to transform.
            for (int xi = 0; xi < Xi; xi++)
                for (int l = 0; l < plan.Count; l++) new Span<float>((float*)plan.V + xi * plan.VXi + (long)l * _ciPad + c0, L).Clear();
            return;
        }
        if (real < L) new Span<float>(tiles + real * Xi * L, (L - real) * Xi * L).Clear();
        var (xs, ys) = (plan.Xs, plan.Ys);
        int tilesW = plan.TilesW, tyFirst = plan.T0 / tilesW, tyLast = (plan.T0 + plan.Count - 1) / tilesW;
        float* image = isInput
            ? (float*)plan.X + ((long)plan.N * _inC + c0) * xs.H * xs.W
            : (float*)plan.G + ((long)plan.N * _outC + c0) * ys.H * ys.W;
        for (int ty = tyFirst; ty <= tyLast; ty++)
        {
            for (int c = 0; c < real; c++)
            {
                float* rows = stage + (long)c * Alpha * stride;
                if (isInput) Stage(image + (long)c * xs.H * xs.W, xs.H, xs.W, T * ty - Params.PadH, Params.PadW, rows, Alpha, stride);
                else Stage(image + (long)c * ys.H * ys.W, ys.H, ys.W, T * ty, 0, rows, T, stride);
            }
            int txa = ty == tyFirst ? plan.T0 % tilesW : 0;
            int txb = ty == tyLast ? (plan.T0 + plan.Count - 1) % tilesW + 1 : tilesW;
            for (int tx = txa; tx < txb; tx += L)
            {
                int count = Math.Min(L, txb - tx), lane0 = ty * tilesW - plan.T0 + tx;
                for (int c = 0; c < real; c++)
                {
                    float* rows = stage + (long)c * Alpha * stride + T * tx, dst = tiles + c * Xi * L;
                    if (_vector)
                    {
                        if (isInput) WinogradF4x4.InputTiles16(rows, stride, tmp, dst, L);
                        else WinogradF4x4.GradientTiles16(rows, stride, tmp, dst, L);
                    }
                    else
                        for (int t = 0; t < count; t++) TileScalar(rows + T * t, stride, isInput, tmp, dst + t);
                }
                if (isInput) StoreV(plan, tiles, c0, lane0, count);
                else StoreU(plan, tiles, c0, lane0, count);
            }
        }
    }

    /// <summary>Copies map rows y0 .. y0 + rows - 1 into the staging rows, column j = map column j - pad, zero outside.</summary>
    private static void Stage(float* plane, int h, int w, int y0, int pad, float* rows, int count, int stride)
    {
        for (int i = 0; i < count; i++)
        {
            var row = new Span<float>(rows + (long)i * stride, stride);
            int y = y0 + i;
            if ((uint)y >= (uint)h) { row.Clear(); continue; }
            row[..pad].Clear();
            int n = Math.Min(w, stride - pad);
            new ReadOnlySpan<float>(plane + (long)y * w, n).CopyTo(row.Slice(pad, n));
            row[(pad + n)..].Clear();
        }
    }

    /// <summary>One tile's 36 transformed values (V = B^T x B from 6 staged rows, or U = A g A^T from 4) at dst + xi*16.</summary>
    private static void TileScalar(float* rows, int stride, bool isInput, float* tmp, float* dst)
    {
        if (isInput)
        {
            for (int i = 0; i < Alpha; i++) WinogradF4x4.InputRow(rows + (long)i * stride, 1, tmp + i * Alpha, 1);
            for (int k = 0; k < Alpha; k++) WinogradF4x4.InputRow(tmp + k, Alpha, dst + k * L, Alpha * L);
        }
        else
        {
            for (int i = 0; i < T; i++) WinogradF4x4.GradientRow(rows + (long)i * stride, 1, tmp + i * Alpha, 1);
            for (int k = 0; k < Alpha; k++) WinogradF4x4.GradientRow(tmp + k, Alpha, dst + k * L, Alpha * L);
        }
    }

    /// <summary>V[xi][lane][c0 .. c0 + 16] = the group's transforms, lanes lane0 .. lane0 + count - 1.</summary>
    private void StoreV(in Plan plan, float* tiles, int c0, int lane0, int count)
    {
        for (int xi = 0; xi < Xi; xi++)
        {
            float* dst = (float*)plan.V + xi * plan.VXi + (long)lane0 * _ciPad + c0;
            if (_vector) WinogradF4x4.Transpose16(tiles + xi * L, Xi * L, dst, _ciPad, count);
            else
                for (int l = 0; l < count; l++)
                    for (int c = 0; c < L; c++) dst[(long)l * _ciPad + c] = tiles[c * Xi * L + xi * L + l];
        }
    }

    /// <summary>U[xi] panel (o / MR) at [lane][o % MR] = the group's transforms, lanes lane0 .. lane0 + count - 1.</summary>
    private void StoreU(in Plan plan, float* tiles, int o0, int lane0, int count)
    {
        int mr = _mk.MR;
        float* block = stackalloc float[L * L];
        for (int xi = 0; xi < Xi; xi++)
        {
            float* panels = (float*)plan.U + xi * plan.UXi;
            if (_vector && mr == 8)
            {
                WinogradF4x4.Transpose16(tiles + xi * L, Xi * L, block, L, count);
                for (int half = 0; half < 2; half++)
                {
                    int panel = o0 / mr + half;
                    if (panel >= _coPanels) break;
                    float* dst = panels + (long)panel * plan.Lanes * mr + (long)lane0 * mr;
                    for (int l = 0; l < count; l++)
                        System.Runtime.Intrinsics.Vector256.Store(System.Runtime.Intrinsics.Vector256.Load(block + l * L + half * 8), dst + l * mr);
                }
            }
            else
                for (int c = 0; c < L && o0 + c < _coPanels * mr; c++)
                {
                    int o = o0 + c;
                    float* dst = panels + (long)(o / mr) * plan.Lanes * mr + (long)lane0 * mr + o % mr;
                    for (int l = 0; l < count; l++) dst[(long)l * mr] = tiles[c * Xi * L + xi * L + l];
                }
        }
    }

    /// <summary>Phase 2: M[xi] (+)= U[xi] V[xi] over the block's tiles, output channel panels [r0, r1), every input channel.</summary>
    private void GemmTask(in Plan plan, int xi, bool first, int r0, int r1)
    {
        int mr = _mk.MR, nr = _mk.NR, flags = first ? 0 : MicroKernel.Accumulate;
        float* a = (float*)plan.U + xi * plan.UXi, b = (float*)plan.V + xi * plan.VXi, m = (float*)plan.M + (long)xi * _ciPad;
        for (int r = r0; r < r1; r++)
        {
            float* panel = a + (long)r * plan.Lanes * mr;
            for (int q = 0; q < _ciPad; q += nr)
                _mk.Run(plan.Count, panel, b + q, _ciPad, m + r * mr * MRow + q, (nint)MRow, null, flags);
        }
    }

    /// <summary>Phase 3: dw[o][c] = G^T M[o][.][c] G for every input channel c of output channel <paramref name="o"/>.</summary>
    private void TapsTask(float* m, float* dw, int o)
    {
        float* tmp = stackalloc float[Xi * L + 16];
        tmp = (float*)(((nint)tmp + 63) & ~(nint)63);
        float* taps = stackalloc float[9 * L];
        float* row = m + o * MRow;
        float* dst = dw + (long)o * _inC * 9;
        for (int c0 = 0; c0 < _inC; c0 += L)
        {
            int count = Math.Min(L, _inC - c0);
            if (_vector) WinogradF4x4.WeightTaps16(row + c0, _ciPad, tmp, taps);
            else
                for (int c = 0; c < count; c++)
                {
                    float* s = row + c0 + c;
                    for (int k = 0; k < Alpha; k++) WinogradF4x4.WeightRow(s + k * _ciPad, Alpha * _ciPad, tmp + k, Alpha);
                    for (int a = 0; a < 3; a++) WinogradF4x4.WeightRow(tmp + a * Alpha, 1, taps + 3 * a * L + c, L);
                }
            for (int c = 0; c < count; c++)
                for (int t = 0; t < 9; t++) dst[(c0 + c) * 9 + t] = taps[t * L + c];
        }
    }
}
