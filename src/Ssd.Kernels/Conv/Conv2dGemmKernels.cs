using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime.Cuda;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Conv;

/// <summary>
/// Register-tiled implicit GEMM convolutions, the fast path on CUDA GPUs (numbered after <see cref="Conv2dKernels"/>):
/// <list type="bullet">
/// <item>Version 4 (<see cref="Conv2d4"/>): FP32 FMAs, each thread an 8x8 register tile.</item>
/// <item>Version 6 (<see cref="Conv2d6"/>): the same tiles on the tensor cores, TF32 inputs and FP32 accumulation through
/// inline PTX (`mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32`, sm_80 and later).</item>
/// <item>Version 7 (<see cref="Conv2d7"/>): version 6's twin without inline assembly: the same tiling, the same fragment
/// registers per lane, and the mma instruction emulated in plain code from the PTX ISA's fragment layout, so that
/// PoCL and the CPU simulator test everything version 6 does except the instruction itself.</item>
/// </list>
/// A group of 256 threads computes a 128 (output channels) x 128 (output pixels across the batch) tile of one conv
/// group's GEMM Y[Mg, N*OH*OW] = W[Mg, Kg] x im2col(X)[Kg, N*OH*OW], stepping K by 8. Weights come packed
/// (<see cref="ConvGemmLayout.PackWeights"/>, k-major, padded to whole tiles): each thread stages one 128-bit load of
/// the A tile per step, no bounds check. The B tile is gathered from X through the tap table
/// (<see cref="ConvGemmLayout.Taps"/>): each thread owns one output pixel (its input origin is computed once) and 4
/// reduction rows; any kernel size, stride, padding and dilation, and any group count (grouped launches index the
/// group by thread group). Shared memory is double buffered: the next step's A and B are loaded into registers while
/// the current step's tiles are multiplied, then stored to the other buffer, one barrier per step. Rows are padded to
/// 136 floats so that the tensor-core fragment loads hit 32 different banks. The epilogue adds the bias, applies ReLU
/// and scatters GEMM columns back to NCHW. Launch <see cref="ConvGemmGeometry.Blocks"/> groups of <see cref="GroupSize"/>.
/// </summary>
public static class Conv2dGemmKernels
{
    /// <summary>The block tile: 128 output channels by 128 output pixels, 8 reduction rows per step.</summary>
    public const int TileM = 128, TileN = 128, TileK = 8;
    /// <summary>Threads per group.</summary>
    public const int GroupSize = 256;
    /// <summary>Row stride of a staged tile in shared memory (floats): 128 + 8 padding.</summary>
    public const int RowStride = TileM + 8;
    private const int RowStride4 = RowStride / 4;
    /// <summary>Floats of one stage (A or B): 8 rows.</summary>
    public const int StageFloats = TileK * RowStride;
    /// <summary>Shared memory of the twin's fragment exchange: per warp 4x4 A and 4x2 B registers of 32 lanes.</summary>
    public const int TwinScratchFloats = GroupSize / 32 * (16 + 8) * 32;
    private const int WarpScratch = (16 + 8) * 32;

    /// <summary>Version 4: FP32, 8x8 outputs per thread.</summary>
    [Kernel("conv2d", GroupSize = GroupSize)]
    public static void Conv2d4(ArrayView<float> x, ArrayView<float> w, ArrayView<int> taps, ArrayView<float> bias, ArrayView<float> y, ConvGemmGeometry g)
    {
        var tileA = SharedMemory.Allocate<float>(2 * StageFloats);
        var tileB = SharedMemory.Allocate<float>(2 * StageFloats);
        var a4 = tileA.Cast<Vec4>();
        var b4 = tileB.Cast<Vec4>();
        var stage = new Stager(x, w, taps, g, tf32: false);
        int tid = Group.IdxX;
        int tx = tid & 15, ty = tid >> 4;
        Row8 r0 = default, r1 = default, r2 = default, r3 = default, r4 = default, r5 = default, r6 = default, r7 = default;

        stage.Load(0);
        stage.Store(tileA, tileB, 0);
        Group.Barrier();
        int steps = g.KPadded / TileK;
        for (int step = 0; step < steps; step++)
        {
            int buf = step & 1;
            bool more = step + 1 < steps;
            if (more) stage.Load(step + 1);
            for (int kk = 0; kk < TileK; kk++)
            {
                int row = (buf * TileK + kk) * RowStride4;
                var aLo = a4[row + ty];
                var aHi = a4[row + 16 + ty];
                var bLo = b4[row + tx];
                var bHi = b4[row + 16 + tx];
                r0 = Fma(r0, aLo.X, bLo, bHi); r1 = Fma(r1, aLo.Y, bLo, bHi); r2 = Fma(r2, aLo.Z, bLo, bHi); r3 = Fma(r3, aLo.W, bLo, bHi);
                r4 = Fma(r4, aHi.X, bLo, bHi); r5 = Fma(r5, aHi.Y, bLo, bHi); r6 = Fma(r6, aHi.Z, bLo, bHi); r7 = Fma(r7, aHi.W, bLo, bHi);
            }
            if (more) stage.Store(tileA, tileB, buf ^ 1);
            Group.Barrier();
        }

        // Columns n0 + tx*4 + j and n0 + 64 + tx*4 + j; rows m0 + ty*4 + i and m0 + 64 + ty*4 + i.
        int n = stage.N0 + tx * 4;
        var cols = new Cols8(
            ColumnBase(g, n), ColumnBase(g, n + 1), ColumnBase(g, n + 2), ColumnBase(g, n + 3),
            ColumnBase(g, n + 64), ColumnBase(g, n + 65), ColumnBase(g, n + 66), ColumnBase(g, n + 67));
        int m = stage.M0 + ty * 4;
        StoreRow(y, bias, g, stage.Group, m, r0, cols);
        StoreRow(y, bias, g, stage.Group, m + 1, r1, cols);
        StoreRow(y, bias, g, stage.Group, m + 2, r2, cols);
        StoreRow(y, bias, g, stage.Group, m + 3, r3, cols);
        StoreRow(y, bias, g, stage.Group, m + 64, r4, cols);
        StoreRow(y, bias, g, stage.Group, m + 65, r5, cols);
        StoreRow(y, bias, g, stage.Group, m + 66, r6, cols);
        StoreRow(y, bias, g, stage.Group, m + 67, r7, cols);
    }

    /// <summary>Version 6: TF32 tensor cores through inline PTX; CUDA sm_80 and later only. Weights must be packed with
    /// <see cref="Tf32.Round"/> applied (the host does it once); the gathered inputs are rounded as they are staged.</summary>
    [Kernel("conv2d", GroupSize = GroupSize, MinSm = 80)]
    public static void Conv2d6(ArrayView<float> x, ArrayView<float> w, ArrayView<int> taps, ArrayView<float> bias, ArrayView<float> y, ConvGemmGeometry g) =>
        TensorCoreGemm(x, w, taps, bias, y, g, SharedMemory.Allocate<float>(1), tensorCores: true);

    /// <summary>Version 7: version 6 with the mma instruction emulated (fragment exchange through shared memory).</summary>
    [Kernel("conv2d", GroupSize = GroupSize)]
    public static void Conv2d7(ArrayView<float> x, ArrayView<float> w, ArrayView<int> taps, ArrayView<float> bias, ArrayView<float> y, ConvGemmGeometry g) =>
        TensorCoreGemm(x, w, taps, bias, y, g, SharedMemory.Allocate<float>(TwinScratchFloats), tensorCores: false);

    // Shared body of versions 6 and 7 (`tensorCores` is a literal at both call sites; ILGPU folds the other branch away).
    // Eight warps as 2 (M) x 4 (N); a warp owns 64x32 outputs: 4 m16 x 4 n8 mma tiles, 16 mma per k8 step, 64 floats per lane.
    // Fragments (PTX ISA, mma.m16n8k8 .tf32, group = lane/4, t = lane%4): a0 (row group, k t), a1 (group+8, t),
    // a2 (group, t+4), a3 (group+8, t+4); b0 (k t, col group), b1 (t+4, group); c0..c3 (row group + 8*(i/2), col 2t + i%2).
    private static void TensorCoreGemm(ArrayView<float> x, ArrayView<float> w, ArrayView<int> taps, ArrayView<float> bias, ArrayView<float> y,
        ConvGemmGeometry g, ArrayView<float> scratch, bool tensorCores)
    {
        var tileA = SharedMemory.Allocate<float>(2 * StageFloats);
        var tileB = SharedMemory.Allocate<float>(2 * StageFloats);
        var stage = new Stager(x, w, taps, g, tf32: true);
        int tid = Group.IdxX;
        int warp = tid >> 5, lane = tid & 31;
        int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;
        int gq = lane >> 2, t4 = lane & 3;
        Acc4 c0 = default, c1 = default, c2 = default, c3 = default;

        stage.Load(0);
        stage.Store(tileA, tileB, 0);
        Group.Barrier();
        int steps = g.KPadded / TileK;
        for (int step = 0; step < steps; step++)
        {
            int buf = step & 1;
            bool more = step + 1 < steps;
            if (more) stage.Load(step + 1);
            int lo = buf * StageFloats + t4 * RowStride, hi = lo + 4 * RowStride;
            var f0 = AFragment(tileA, lo, hi, wm + gq);
            var f1 = AFragment(tileA, lo, hi, wm + 16 + gq);
            var f2 = AFragment(tileA, lo, hi, wm + 32 + gq);
            var f3 = AFragment(tileA, lo, hi, wm + 48 + gq);
            var b = BFragments(tileB, lo, hi, wn + gq);
            if (tensorCores)
            {
                c0 = Mma(c0, f0, b); c1 = Mma(c1, f1, b); c2 = Mma(c2, f2, b); c3 = Mma(c3, f3, b);
            }
            else
            {
                int at = warp * WarpScratch;
                Deposit(scratch, at, lane, 0, f0); Deposit(scratch, at, lane, 1, f1);
                Deposit(scratch, at, lane, 2, f2); Deposit(scratch, at, lane, 3, f3);
                Deposit(scratch, at, lane, b);
                Group.Barrier();
                c0 = MmaEmulated(c0, scratch, at, 0, gq, t4); c1 = MmaEmulated(c1, scratch, at, 1, gq, t4);
                c2 = MmaEmulated(c2, scratch, at, 2, gq, t4); c3 = MmaEmulated(c3, scratch, at, 3, gq, t4);
                Group.Barrier();
            }
            if (more) stage.Store(tileA, tileB, buf ^ 1);
            Group.Barrier();
        }

        int n = stage.N0 + wn + 2 * t4;
        var cols = new Cols8(
            ColumnBase(g, n), ColumnBase(g, n + 1), ColumnBase(g, n + 8), ColumnBase(g, n + 9),
            ColumnBase(g, n + 16), ColumnBase(g, n + 17), ColumnBase(g, n + 24), ColumnBase(g, n + 25));
        int m = stage.M0 + wm + gq;
        StoreFragments(y, bias, g, stage.Group, m, c0, cols);
        StoreFragments(y, bias, g, stage.Group, m + 16, c1, cols);
        StoreFragments(y, bias, g, stage.Group, m + 32, c2, cols);
        StoreFragments(y, bias, g, stage.Group, m + 48, c3, cols);
    }

    /// <summary>
    /// The global-to-shared staging all three versions share: which tile this thread group owns, where this thread's A
    /// load and B gather come from, and the registers that carry the next step's tiles across the multiply.
    /// </summary>
    private struct Stager
    {
        private readonly ArrayView<float> x;
        private readonly ArrayView<Vec4> w4;
        private readonly ArrayView<Tap> taps;
        private readonly int aIndex, aStep, aStore, bStore, xBase, iy0, ix0, h, wd;
        private readonly bool tf32;
        private Vec4 a;
        private float b0, b1, b2, b3;
        public readonly int Group, M0, N0;
        private readonly int bRow;

        public Stager(ArrayView<float> x, ArrayView<float> w, ArrayView<int> taps, ConvGemmGeometry g, bool tf32)
        {
            this.x = x;
            w4 = w.Cast<Vec4>();
            this.taps = taps.Cast<Tap>();
            this.tf32 = tf32;
            int tid = ILGPU.Group.IdxX;
            int perGroup = g.TilesM * g.TilesN;
            Group = Grid.IdxX / perGroup;
            int tile = Grid.IdxX - Group * perGroup;
            M0 = tile / g.TilesN * TileM;
            N0 = (tile - tile / g.TilesN * g.TilesN) * TileN;

            // A: row tid/32 of the step, 4 consecutive output channels from (tid%32)*4.
            int aRow = tid >> 5, aCol4 = tid & 31;
            int panel4 = g.MPadded >> 2;
            aIndex = (Group * g.KPadded + aRow) * panel4 + (M0 >> 2) + aCol4;
            aStep = TileK * panel4;
            aStore = aRow * RowStride4 + aCol4;

            // B: output pixel n0 + tid%128, reduction rows tid/128 + 2i of each step.
            int bCol = tid & (TileN - 1);
            bRow = tid >> 7;
            bStore = bRow * RowStride + bCol;
            int col = N0 + bCol;
            int image = col / g.OutPlane;
            int pixel = col - image * g.OutPlane;
            int oy = pixel / g.OutW;
            int ox = pixel - oy * g.OutW;
            h = g.H;
            wd = g.W;
            // A column past the GEMM reads nothing: its origin sits far above the image.
            iy0 = col < g.GemmN ? oy * g.StrideH - g.PadH : -0x8000;
            ix0 = ox * g.StrideW - g.PadW;
            xBase = col < g.GemmN ? (image * g.C + Group * g.GroupInC) * g.H * g.W + iy0 * g.W + ix0 : 0;
            a = default;
            b0 = b1 = b2 = b3 = 0f;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Load(int step)
        {
            a = w4[aIndex + step * aStep];
            int k = step * TileK + bRow;
            b0 = Gather(k);
            b1 = Gather(k + 2);
            b2 = Gather(k + 4);
            b3 = Gather(k + 6);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private readonly float Gather(int k)
        {
            var t = taps[k];
            int iy = iy0 + (t.Shift >> 16), ix = ix0 + (t.Shift & 0xFFFF);
            float v = (uint)iy < (uint)h && (uint)ix < (uint)wd ? x[xBase + t.Offset] : 0f;
            return tf32 ? Tf32.Round(v) : v;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Store(ArrayView<float> tileA, ArrayView<float> tileB, int buf)
        {
            tileA.Cast<Vec4>()[buf * (StageFloats / 4) + aStore] = a;
            int at = buf * StageFloats + bStore;
            tileB[at] = b0;
            tileB[at + 2 * RowStride] = b1;
            tileB[at + 4 * RowStride] = b2;
            tileB[at + 6 * RowStride] = b3;
        }
    }

    /// <summary>Eight accumulators of one output row (version 4).</summary>
    private struct Row8
    {
        public float C0, C1, C2, C3, C4, C5, C6, C7;
    }

    /// <summary>The output base (image*OutC*plane + pixel) of eight columns, -1 for a column past the GEMM.</summary>
    private readonly struct Cols8(int b0, int b1, int b2, int b3, int b4, int b5, int b6, int b7)
    {
        public readonly int B0 = b0, B1 = b1, B2 = b2, B3 = b3, B4 = b4, B5 = b5, B6 = b6, B7 = b7;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Row8 Fma(Row8 r, float a, Vec4 lo, Vec4 hi)
    {
        r.C0 += a * lo.X; r.C1 += a * lo.Y; r.C2 += a * lo.Z; r.C3 += a * lo.W;
        r.C4 += a * hi.X; r.C5 += a * hi.Y; r.C6 += a * hi.Z; r.C7 += a * hi.W;
        return r;
    }

    private static int ColumnBase(ConvGemmGeometry g, int col)
    {
        if (col >= g.GemmN) return -1;
        int image = col / g.OutPlane;
        return image * g.OutC * g.OutPlane + col - image * g.OutPlane;
    }

    private static void StoreRow(ArrayView<float> y, ArrayView<float> bias, ConvGemmGeometry g, int group, int m, Row8 r, Cols8 c)
    {
        if (m >= g.GroupOutC) return;
        int o = group * g.GroupOutC + m;
        float b = g.HasBias != 0 ? bias[o] : 0f;
        int at = o * g.OutPlane;
        Store(y, g, c.B0, at, r.C0 + b); Store(y, g, c.B1, at, r.C1 + b); Store(y, g, c.B2, at, r.C2 + b); Store(y, g, c.B3, at, r.C3 + b);
        Store(y, g, c.B4, at, r.C4 + b); Store(y, g, c.B5, at, r.C5 + b); Store(y, g, c.B6, at, r.C6 + b); Store(y, g, c.B7, at, r.C7 + b);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(ArrayView<float> y, ConvGemmGeometry g, int column, int channel, float v)
    {
        if (column >= 0) y[column + channel] = g.Relu != 0 ? IntrinsicMath.Max(v, 0f) : v;
    }

    // ---- tensor-core fragments (versions 6 and 7)

    /// <summary>One m16 x k8 A fragment of a lane: a0..a3.</summary>
    private struct AFrag
    {
        public float A0, A1, A2, A3;
    }

    /// <summary>The k8 x n8 B fragments (b0, b1) of the warp's four n8 tiles.</summary>
    private struct BFrag
    {
        public float B00, B01, B10, B11, B20, B21, B30, B31;
    }

    /// <summary>The four n8 accumulator fragments (c0..c3 each) of one m16 row of mma tiles.</summary>
    private struct Acc4
    {
        public Vec4 N0, N1, N2, N3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static AFrag AFragment(ArrayView<float> tileA, int lo, int hi, int row) =>
        new() { A0 = tileA[lo + row], A1 = tileA[lo + row + 8], A2 = tileA[hi + row], A3 = tileA[hi + row + 8] };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static BFrag BFragments(ArrayView<float> tileB, int lo, int hi, int col) => new()
    {
        B00 = tileB[lo + col], B01 = tileB[hi + col],
        B10 = tileB[lo + col + 8], B11 = tileB[hi + col + 8],
        B20 = tileB[lo + col + 16], B21 = tileB[hi + col + 16],
        B30 = tileB[lo + col + 24], B31 = tileB[hi + col + 24],
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Acc4 Mma(Acc4 c, AFrag a, BFrag b)
    {
        c.N0 = Mma(c.N0, a, b.B00, b.B01);
        c.N1 = Mma(c.N1, a, b.B10, b.B11);
        c.N2 = Mma(c.N2, a, b.B20, b.B21);
        c.N3 = Mma(c.N3, a, b.B30, b.B31);
        return c;
    }

    /// <summary>D = A x B + C for one m16n8k8 tile on the tensor cores (the inputs already hold TF32 values).</summary>
    private static Vec4 Mma(Vec4 c, AFrag a, float b0, float b1)
    {
        Ref<float> d0 = c.X, d1 = c.Y, d2 = c.Z, d3 = c.W;
        Input<uint> a0 = Interop.FloatAsInt(a.A0), a1 = Interop.FloatAsInt(a.A1), a2 = Interop.FloatAsInt(a.A2), a3 = Interop.FloatAsInt(a.A3);
        Input<uint> e0 = Interop.FloatAsInt(b0), e1 = Interop.FloatAsInt(b1);
        CudaAsm.EmitRef("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};",
            ref d0, ref d1, ref d2, ref d3, ref a0, ref a1, ref a2, ref a3, ref e0, ref e1);
        return new Vec4 { X = d0.Value, Y = d1.Value, Z = d2.Value, W = d3.Value };
    }

    // The twin's exchange: per warp, A registers at [(mi*4 + reg)*32 + lane], B registers at [512 + (ni*2 + reg)*32 + lane].
    private static void Deposit(ArrayView<float> s, int at, int lane, int mi, AFrag a)
    {
        int r = at + mi * 4 * 32 + lane;
        s[r] = a.A0; s[r + 32] = a.A1; s[r + 64] = a.A2; s[r + 96] = a.A3;
    }

    private static void Deposit(ArrayView<float> s, int at, int lane, BFrag b)
    {
        int r = at + 512 + lane;
        s[r] = b.B00; s[r + 32] = b.B01; s[r + 64] = b.B10; s[r + 96] = b.B11;
        s[r + 128] = b.B20; s[r + 160] = b.B21; s[r + 192] = b.B30; s[r + 224] = b.B31;
    }

    private static Acc4 MmaEmulated(Acc4 c, ArrayView<float> s, int at, int mi, int gq, int t4)
    {
        c.N0 = MmaEmulated(c.N0, s, at, mi, 0, gq, t4);
        c.N1 = MmaEmulated(c.N1, s, at, mi, 1, gq, t4);
        c.N2 = MmaEmulated(c.N2, s, at, mi, 2, gq, t4);
        c.N3 = MmaEmulated(c.N3, s, at, mi, 3, gq, t4);
        return c;
    }

    /// <summary>What the warp's mma.m16n8k8 gives this lane, from the registers every lane deposited: element (r, n)
    /// of D sums A(r, k) (held by lane (r%8)*4 + k%4 in register r/8 + 2*(k/4)) times B(k, n) (lane n*4 + k%4,
    /// register k/4) over k, added to C.</summary>
    private static Vec4 MmaEmulated(Vec4 c, ArrayView<float> s, int at, int mi, int ni, int gq, int t4)
    {
        int n0 = 2 * t4;
        c.X += Dot(s, at, mi, ni, gq, n0);
        c.Y += Dot(s, at, mi, ni, gq, n0 + 1);
        c.Z += Dot(s, at, mi, ni, gq + 8, n0);
        c.W += Dot(s, at, mi, ni, gq + 8, n0 + 1);
        return c;
    }

    private static float Dot(ArrayView<float> s, int at, int mi, int ni, int r, int n)
    {
        float sum = 0f;
        for (int k = 0; k < TileK; k++)
        {
            float a = s[at + (mi * 4 + (r >> 3) + 2 * (k >> 2)) * 32 + (r & 7) * 4 + (k & 3)];
            float b = s[at + 512 + (ni * 2 + (k >> 2)) * 32 + n * 4 + (k & 3)];
            sum += a * b;
        }
        return sum;
    }

    private static void StoreFragments(ArrayView<float> y, ArrayView<float> bias, ConvGemmGeometry g, int group, int m, Acc4 c, Cols8 cols)
    {
        // c0, c1 in row m; c2, c3 in row m + 8; columns of tile ni: cols B(2ni), B(2ni+1).
        StoreRow(y, bias, g, group, m, new Row8 { C0 = c.N0.X, C1 = c.N0.Y, C2 = c.N1.X, C3 = c.N1.Y, C4 = c.N2.X, C5 = c.N2.Y, C6 = c.N3.X, C7 = c.N3.Y }, cols);
        StoreRow(y, bias, g, group, m + 8, new Row8 { C0 = c.N0.Z, C1 = c.N0.W, C2 = c.N1.Z, C3 = c.N1.W, C4 = c.N2.Z, C5 = c.N2.W, C6 = c.N3.Z, C7 = c.N3.W }, cols);
    }
}

/// <summary>TF32: a float32 with its mantissa rounded to 10 bits (round to nearest, ties away from zero, as PTX's
/// cvt.rna.tf32.f32), the precision the tensor cores multiply in. One definition for the host (weights), the kernels
/// (gathered inputs) and the tests.</summary>
internal static class Tf32
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Round(float v)
    {
        uint bits = Interop.FloatAsInt(v);
        if ((bits & 0x7F800000u) == 0x7F800000u) return v; // infinities and NaN stay
        return Interop.IntAsFloat((bits + 0x1000u) & 0xFFFFE000u);
    }

    /// <summary>Rounds every element in place.</summary>
    public static void Round(Span<float> values)
    {
        for (int i = 0; i < values.Length; i++) values[i] = Round(values[i]);
    }
}
