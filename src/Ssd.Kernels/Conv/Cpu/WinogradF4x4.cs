using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Conv;

/// <summary>
/// The transforms of Winograd F(4x4, 3x3): a 4x4 output tile from a 6x6 input patch d and a 3x3 filter g as
/// Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A, 36 multiplies per (in, out) channel pair instead of 144.
/// Construction: Toom-Cook / Winograd minimal filtering (Lavin &amp; Gray, "Fast Algorithms for Convolutional Neural
/// Networks", CVPR 2016, section 4): A^T's column j is (1, p, p^2, p^3) at interpolation point p, G's row j is
/// (1, p, p^2) / prod_{l != j} (p - p_l), the last column/row is the point at infinity, and B^T follows from the
/// identity y_i = sum_k g_k d_(i+k). Lavin &amp; Gray use the points 0, 1, -1, 2, -2, inf; we use 0, 1, -1, 1/2, -2, inf
/// instead: simulated in fp32 on VGG-like data (512 channels) its max error is 2.7x smaller (1.5e-6 vs 4.2e-6 of the
/// output scale), the reciprocal pair 1/2, -2 keeping both B^T's and A^T's entries small (Barabasz et al., "Error
/// analysis and improving the accuracy of Winograd convolution for DNNs", 2018, make the same observation).
/// Rows of B^T and G (and A^T's 1/2 column) were rescaled by powers of two, which is exact, to make the entries integers:
/// <code>
/// B^T = [ 2 -3 -4  3  2  0 ]     G = [  1/2     0      0   ]     A^T = [ 1  1  1  8  1  0 ]
///       [ 0 -2  1  5  2  0 ]         [  1/6    1/6    1/6  ]           [ 0  1 -1  4 -2  0 ]
///       [ 0  2 -5  1  2  0 ]         [ -1/6    1/6   -1/6  ]           [ 0  1  1  2  4  0 ]
///       [ 0 -2 -1  2  1  0 ]         [ -2/15  -1/15  -1/30 ]           [ 0  1 -1  1 -8  1 ]
///       [ 0  1 -2 -1  2  0 ]         [  1/30  -1/15   2/15 ]
///       [ 0  2 -3 -4  3  2 ]         [   0      0     1/2  ]
/// </code>
/// Index xi = 6*j + k of the 36 transformed elements: j along the image rows (y), k along the columns (x).
/// Each 1-D transform is applied to rows then columns. The vector forms work on 16 tiles at once, one tile per lane
/// (the micro-kernel's B layout is tile-minor).
/// </summary>
internal static unsafe class WinogradF4x4
{
    public const int Alpha = 6, Tile = 4, Xi = 36;

    /// <summary>G row by row (G[j, a] at 3j + a): constant data, so the JIT drops the bounds checks.</summary>
    private static ReadOnlySpan<double> G =>
    [
        1.0 / 2, 0, 0, 1.0 / 6, 1.0 / 6, 1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6,
        -2.0 / 15, -1.0 / 15, -1.0 / 30, 1.0 / 30, -1.0 / 15, 2.0 / 15, 0, 0, 1.0 / 2,
    ];

    /// <summary>U[xi][o][c] = (G g[o,c] G^T)[xi], computed in double and rounded once (1/6, 1/15, 1/30 are inexact in fp32).</summary>
    public static float[] TransformWeights(ReadOnlySpan<float> w, int inC, int outC)
    {
        var u = new float[Xi * (long)outC * inC];
        TransformWeights(w, inC, outC, u);
        return u;
    }

    /// <summary><see cref="TransformWeights(ReadOnlySpan{float}, int, int)"/> into <paramref name="u"/> [Xi][outC][inC]
    /// (for a block of output channels: their weights in, their U out).</summary>
    public static void TransformWeights(ReadOnlySpan<float> w, int inC, int outC, Span<float> u)
    {
        int plane = outC * inC;
        if (w.Length < plane * 9 || u.Length < Xi * plane)
            throw new ArgumentException($"winograd: {w.Length} weights and {u.Length} transformed for {outC} x {inC} channel pairs");
        var gm = G;
        int pair = 0;
        if (Avx512F.IsSupported)
            fixed (float* pw = w, pu = u)
                for (; pair + 8 <= plane; pair += 8) TransformWeights8(pw + pair * 9, NineApart, pu + pair, plane);
        Span<double> t = stackalloc double[Alpha * 3];
        for (; pair < plane; pair++) // pair = o * inC + c
        {
            var g = w.Slice(pair * 9, 9);
            for (int j = 0; j < Alpha; j++) // G g
                for (int b = 0; b < 3; b++)
                    t[3 * j + b] = gm[3 * j] * g[b] + gm[3 * j + 1] * g[3 + b] + gm[3 * j + 2] * g[6 + b];
            for (int j = 0; j < Alpha; j++) // (G g) G^T
                for (int k = 0; k < Alpha; k++)
                    u[(Alpha * j + k) * plane + pair] = (float)(t[3 * j] * gm[3 * k] + t[3 * j + 1] * gm[3 * k + 1] + t[3 * j + 2] * gm[3 * k + 2]);
        }
    }

    private static readonly Vector256<int> NineApart = Vector256.Create(0, 9, 18, 27, 36, 45, 54, 63);

    /// <summary>
    /// U of output channels [o0, o0 + count) (count a multiple of 8) straight into a panel's [c][mr] layout:
    /// U[xi][o][c] at panel + xi * xiStride + c * mr + (o - o0). The same floats as
    /// <see cref="TransformWeights(ReadOnlySpan{float}, int, int, Span{float})"/> (8 output channels of one input
    /// channel a call of the same vector form), without the [xi][o][c] staging and its transpose.
    /// </summary>
    public static void TransformWeightsToPanel(ReadOnlySpan<float> w, int inC, int o0, int count, float* panel, long xiStride, int mr)
    {
        if (!Avx512F.IsSupported || count % 8 != 0 || count > mr || (long)(o0 + count) * inC * 9 > w.Length || 63L * inC > int.MaxValue / sizeof(float))
            throw new ArgumentException($"winograd: no direct panel transform for {count} output channels from {o0} (mr {mr}, {inC} inputs)");
        var apart = NineApart * inC;
        fixed (float* pw = w)
            for (int c = 0; c < inC; c++) // each c's mr floats of every xi written whole, one after the other
                for (int j = 0; j < count; j += 8)
                    TransformWeights8(pw + ((long)(o0 + j) * inC + c) * 9, apart, panel + (long)c * mr + j, xiStride);
    }

    /// <summary>
    /// <see cref="TransformWeights(ReadOnlySpan{float}, int, int, Span{float})"/> of 8 channel pairs (their 3x3 filters
    /// at <paramref name="w"/> + apart[i]) in double lanes, the scalar form's products and sums in its order (no fused
    /// multiply-adds), so the bits are the same; U[xi] for the 8 pairs at u + xi * xiStride.
    /// </summary>
    private static void TransformWeights8(float* w, Vector256<int> apart, float* u, long xiStride)
    {
        var gm = G;
        var g = stackalloc Vector512<double>[9];
        for (int a = 0; a < 9; a++) g[a] = Avx512F.ConvertToVector512Double(Avx2.GatherVector256(w + a, apart, 4));
        var t = stackalloc Vector512<double>[Alpha * 3];
        for (int j = 0; j < Alpha; j++) // G g
            for (int b = 0; b < 3; b++)
                t[3 * j + b] = Vector512.Create(gm[3 * j]) * g[b] + Vector512.Create(gm[3 * j + 1]) * g[3 + b] + Vector512.Create(gm[3 * j + 2]) * g[6 + b];
        for (int j = 0; j < Alpha; j++) // (G g) G^T
            for (int k = 0; k < Alpha; k++)
                Vector256.Store(Avx512F.ConvertToVector256Single(
                    t[3 * j] * Vector512.Create(gm[3 * k]) + t[3 * j + 1] * Vector512.Create(gm[3 * k + 1]) + t[3 * j + 2] * Vector512.Create(gm[3 * k + 2])),
                    u + (Alpha * j + k) * xiStride);
    }

    // ---- scalar forms (portable ISA levels, and the reference for the vector forms) ----

    /// <summary>r = B^T d for six values d[0], d[s], ..., d[5s], written to r[0], r[rs], ..., r[5rs].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void InputRow(float* d, int s, float* r, long rs)
    {
        float d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s];
        r[0] = 2 * (d0 + d4) + 3 * (d3 - d1) - 4 * d2;
        r[rs] = 2 * (d4 - d1) + d2 + 5 * d3;
        r[2 * rs] = 2 * (d1 + d4) - 5 * d2 + d3;
        r[3 * rs] = 2 * (d3 - d1) + d4 - d2;
        r[4 * rs] = 2 * (d4 - d2) + d1 - d3;
        r[5 * rs] = 2 * (d1 + d5) + 3 * (d4 - d2) - 4 * d3;
    }

    /// <summary>y = A^T m for six values m[0], m[s], ..., m[5s], written to y[0], y[ys], y[2ys], y[3ys].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void OutputRow(float* m, long s, float* y, int ys)
    {
        float m0 = m[0], m1 = m[s], m2 = m[2 * s], m3 = m[3 * s], m4 = m[4 * s], m5 = m[5 * s];
        float s12 = m1 + m2, d12 = m1 - m2;
        y[0] = m0 + s12 + 8 * m3 + m4;
        y[ys] = d12 + 4 * m3 - 2 * m4;
        y[2 * ys] = s12 + 2 * m3 + 4 * m4;
        y[3 * ys] = d12 + m3 - 8 * m4 + m5;
    }

    /// <summary>
    /// r = A g for four values g[0], g[s], g[2s], g[3s] (A = the transpose of A^T above), written to r[0], r[rs], ..., r[5rs]:
    /// the weight gradient's transform of a 4x4 tile of the output gradient (see <see cref="WinogradWeightGradient"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void GradientRow(float* g, int s, float* r, long rs)
    {
        float g0 = g[0], g1 = g[s], g2 = g[2 * s], g3 = g[3 * s];
        float s02 = g0 + g2, s13 = g1 + g3;
        r[0] = g0;
        r[rs] = s02 + s13;
        r[2 * rs] = s02 - s13;
        r[3 * rs] = 8 * g0 + 4 * g1 + 2 * g2 + g3;
        r[4 * rs] = g0 - 2 * g1 + 4 * g2 - 8 * g3;
        r[5 * rs] = g3;
    }

    /// <summary>
    /// r = G^T m for six values m[0], m[s], ..., m[5s], written to r[0], r[rs], r[2rs]: the weight gradient's way back
    /// from the 36 transformed sums to the 3x3 taps (see <see cref="WinogradWeightGradient"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WeightRow(float* m, long s, float* r, long rs)
    {
        float m0 = m[0], m1 = m[s], m2 = m[2 * s], m3 = m[3 * s], m4 = m[4 * s], m5 = m[5 * s];
        float s12 = (m1 + m2) * Sixth, d12 = (m1 - m2) * Sixth;
        r[0] = 0.5f * m0 + d12 - 2 * Fifteenth * m3 + Thirtieth * m4;
        r[rs] = s12 - Fifteenth * (m3 + m4);
        r[2 * rs] = d12 - Thirtieth * m3 + 2 * Fifteenth * m4 + 0.5f * m5;
    }

    private const float Sixth = 1f / 6, Fifteenth = 1f / 15, Thirtieth = 1f / 30;

    // ---- AVX-512 forms: 16 tiles per vector ----

    /// <summary>Six vectors through B^T (see <see cref="InputRow"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void InputRow(Vector512<float> d0, Vector512<float> d1, Vector512<float> d2, Vector512<float> d3,
        Vector512<float> d4, Vector512<float> d5, float* r, long rs)
    {
        var two = Vector512.Create(2f); var three = Vector512.Create(3f); var four = Vector512.Create(4f); var five = Vector512.Create(5f);
        Vector512.Store(Fma(two, d0 + d4, Fma(three, d3 - d1, -four * d2)), r);
        Vector512.Store(Fma(two, d4 - d1, Fma(five, d3, d2)), r + rs);
        Vector512.Store(Fma(two, d1 + d4, Fma(-five, d2, d3)), r + 2 * rs);
        Vector512.Store(Fma(two, d3 - d1, d4 - d2), r + 3 * rs);
        Vector512.Store(Fma(two, d4 - d2, d1 - d3), r + 4 * rs);
        Vector512.Store(Fma(two, d1 + d5, Fma(three, d4 - d2, -four * d3)), r + 5 * rs);
    }

    /// <summary>Six vectors through A^T (see <see cref="OutputRow"/>); returns the four results.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void OutputRow(Vector512<float> m0, Vector512<float> m1, Vector512<float> m2, Vector512<float> m3,
        Vector512<float> m4, Vector512<float> m5, out Vector512<float> y0, out Vector512<float> y1, out Vector512<float> y2, out Vector512<float> y3)
    {
        var two = Vector512.Create(2f); var four = Vector512.Create(4f); var eight = Vector512.Create(8f);
        var s12 = m1 + m2; var d12 = m1 - m2;
        y0 = Fma(eight, m3, s12 + m0 + m4);
        y1 = Fma(four, m3, Fma(-two, m4, d12));
        y2 = Fma(two, m3, Fma(four, m4, s12));
        y3 = Fma(-eight, m4, d12 + m3 + m5);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Avx512F.FusedMultiplyAdd(a, b, c);

    // vpermt2ps index vectors: from 32 floats (4 per tile, 8 tiles) pick one column phase into each half, then join halves.
    private static readonly Vector512<int> Phase01 = Vector512.Create(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    private static readonly Vector512<int> Phase23 = Vector512.Create(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
    private static readonly Vector512<int> LowHalves = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    private static readonly Vector512<int> HighHalves = Vector512.Create(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    // The inverse: interleave two phases tile by tile, then pairs of pairs.
    private static readonly Vector512<int> ZipLow = Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    private static readonly Vector512<int> ZipHigh = Vector512.Create(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    private static readonly Vector512<int> Zip2Low = Vector512.Create(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
    private static readonly Vector512<int> Zip2High = Vector512.Create(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);

    /// <summary>
    /// The 64 floats at <paramref name="s"/> (16 tiles of 4 columns) as their 4 column phases: c_q's lane t is column
    /// 4t + q.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ColumnPhases(float* s, out Vector512<float> c0, out Vector512<float> c1, out Vector512<float> c2, out Vector512<float> c3)
    {
        var v0 = Vector512.Load(s); var v1 = Vector512.Load(s + 16); var v2 = Vector512.Load(s + 32); var v3 = Vector512.Load(s + 48);
        var a = Avx512F.PermuteVar16x32x2(v0, Phase01, v1);
        var b = Avx512F.PermuteVar16x32x2(v2, Phase01, v3);
        c0 = Avx512F.PermuteVar16x32x2(a, LowHalves, b);
        c1 = Avx512F.PermuteVar16x32x2(a, HighHalves, b);
        a = Avx512F.PermuteVar16x32x2(v0, Phase23, v1);
        b = Avx512F.PermuteVar16x32x2(v2, Phase23, v3);
        c2 = Avx512F.PermuteVar16x32x2(a, LowHalves, b);
        c3 = Avx512F.PermuteVar16x32x2(a, HighHalves, b);
    }

    /// <summary>
    /// V = B^T d B for 16 horizontally adjacent tiles of one channel. <paramref name="rows"/> holds the 6 input rows
    /// of the tile row (zero-padded, <paramref name="rowStride"/> apart) starting at the first tile's left column;
    /// tile t's patch is columns 4t..4t+5, so 66 floats per row are read. Writes xi's 16 lanes at dst + xi*xiStride.
    /// <paramref name="tmp"/>: 36*16 floats of scratch.
    /// </summary>
    public static void InputTiles16(float* rows, int rowStride, float* tmp, float* dst, long xiStride)
    {
        const int L = 16;
        for (int i = 0; i < Alpha; i++)
        {
            float* s = rows + (long)i * rowStride;
            ColumnPhases(s, out var c0, out var c1, out var c2, out var c3);
            // Columns 4 and 5 of tile t are columns 0 and 1 of tile t+1: shift one lane, pulling in tile 16's.
            var c4 = Avx512F.AlignRight32(Vector512.Create(s[64]).AsInt32(), c0.AsInt32(), 1).AsSingle();
            var c5 = Avx512F.AlignRight32(Vector512.Create(s[65]).AsInt32(), c1.AsInt32(), 1).AsSingle();
            InputRow(c0, c1, c2, c3, c4, c5, tmp + i * Alpha * L, L); // tmp[i][k]: (d B) row i
        }
        for (int k = 0; k < Alpha; k++)
        {
            float* t = tmp + k * L;
            const int R = Alpha * L;
            var d0 = Vector512.Load(t); var d1 = Vector512.Load(t + R); var d2 = Vector512.Load(t + 2 * R);
            var d3 = Vector512.Load(t + 3 * R); var d4 = Vector512.Load(t + 4 * R); var d5 = Vector512.Load(t + 5 * R);
            InputRow(d0, d1, d2, d3, d4, d5, dst + k * xiStride, Alpha * xiStride);
        }
    }

    /// <summary>
    /// Y = A^T M A (+bias, ReLU) for 16 horizontally adjacent tiles of one output channel: M's lanes at
    /// m + xi*xiStride; writes the 4 output rows of 64 columns to out + r*outStride (tile t at columns 4t..4t+3).
    /// <paramref name="tmp"/>: 24*16 floats of scratch.
    /// </summary>
    public static void OutputTiles16(float* m, long xiStride, float bias, bool relu, float* tmp, float* out_, int outStride, int outRows)
    {
        const int L = 16;
        for (int k = 0; k < Alpha; k++) // A^T M: column k of the 6x6 -> 4 values
        {
            float* s = m + k * xiStride;
            var m0 = Vector512.Load(s); var m1 = Vector512.Load(s + Alpha * xiStride); var m2 = Vector512.Load(s + 2 * Alpha * xiStride);
            var m3 = Vector512.Load(s + 3 * Alpha * xiStride); var m4 = Vector512.Load(s + 4 * Alpha * xiStride); var m5 = Vector512.Load(s + 5 * Alpha * xiStride);
            OutputRow(m0, m1, m2, m3, m4, m5, out var y0, out var y1, out var y2, out var y3);
            Vector512.Store(y0, tmp + (0 * Alpha + k) * L);
            Vector512.Store(y1, tmp + (1 * Alpha + k) * L);
            Vector512.Store(y2, tmp + (2 * Alpha + k) * L);
            Vector512.Store(y3, tmp + (3 * Alpha + k) * L);
        }
        var vb = Vector512.Create(bias); var zero = Vector512<float>.Zero;
        var zl = ZipLow; var zh = ZipHigh; var z2l = Zip2Low; var z2h = Zip2High;
        for (int r = 0; r < outRows; r++) // (A^T M) A: row r -> 4 column phases, interleaved into 64 floats
        {
            float* t = tmp + r * Alpha * L;
            var m0 = Vector512.Load(t); var m1 = Vector512.Load(t + L); var m2 = Vector512.Load(t + 2 * L);
            var m3 = Vector512.Load(t + 3 * L); var m4 = Vector512.Load(t + 4 * L); var m5 = Vector512.Load(t + 5 * L);
            OutputRow(m0, m1, m2, m3, m4, m5, out var y0, out var y1, out var y2, out var y3);
            y0 += vb; y1 += vb; y2 += vb; y3 += vb;
            if (relu) { y0 = Avx512F.Max(y0, zero); y1 = Avx512F.Max(y1, zero); y2 = Avx512F.Max(y2, zero); y3 = Avx512F.Max(y3, zero); }
            var a01 = Avx512F.PermuteVar16x32x2(y0, zl, y1); // tiles 0..7: y0,y1 pairs
            var b01 = Avx512F.PermuteVar16x32x2(y0, zh, y1); // tiles 8..15
            var a23 = Avx512F.PermuteVar16x32x2(y2, zl, y3);
            var b23 = Avx512F.PermuteVar16x32x2(y2, zh, y3);
            float* o = out_ + (long)r * outStride;
            Vector512.Store(Avx512F.PermuteVar16x32x2(a01, z2l, a23), o);
            Vector512.Store(Avx512F.PermuteVar16x32x2(a01, z2h, a23), o + 16);
            Vector512.Store(Avx512F.PermuteVar16x32x2(b01, z2l, b23), o + 32);
            Vector512.Store(Avx512F.PermuteVar16x32x2(b01, z2h, b23), o + 48);
        }
    }

    /// <summary>Four vectors through A (see <see cref="GradientRow(float*, int, float*, long)"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GradientRow(Vector512<float> g0, Vector512<float> g1, Vector512<float> g2, Vector512<float> g3, float* r, long rs)
    {
        var two = Vector512.Create(2f); var four = Vector512.Create(4f); var eight = Vector512.Create(8f);
        var s02 = g0 + g2; var s13 = g1 + g3;
        Vector512.Store(g0, r);
        Vector512.Store(s02 + s13, r + rs);
        Vector512.Store(s02 - s13, r + 2 * rs);
        Vector512.Store(Fma(eight, g0, Fma(four, g1, Fma(two, g2, g3))), r + 3 * rs);
        Vector512.Store(Fma(-eight, g3, Fma(four, g2, Fma(-two, g1, g0))), r + 4 * rs);
        Vector512.Store(g3, r + 5 * rs);
    }

    /// <summary>
    /// U = A g A^T for 16 horizontally adjacent 4x4 tiles of one channel of the output gradient: <paramref name="rows"/>
    /// holds the tile row's 4 rows (zero past the map, <paramref name="rowStride"/> apart) from the first tile's left
    /// column; tile t is columns 4t..4t+3, so 64 floats per row are read. Writes xi's 16 lanes at dst + xi*xiStride.
    /// <paramref name="tmp"/>: 24*16 floats of scratch.
    /// </summary>
    public static void GradientTiles16(float* rows, int rowStride, float* tmp, float* dst, long xiStride)
    {
        const int L = 16;
        for (int i = 0; i < Tile; i++)
        {
            ColumnPhases(rows + (long)i * rowStride, out var c0, out var c1, out var c2, out var c3);
            GradientRow(c0, c1, c2, c3, tmp + i * Alpha * L, L); // tmp[i][k]: (g A^T) row i
        }
        for (int k = 0; k < Alpha; k++)
        {
            float* t = tmp + k * L;
            const int R = Alpha * L;
            GradientRow(Vector512.Load(t), Vector512.Load(t + R), Vector512.Load(t + 2 * R), Vector512.Load(t + 3 * R), dst + k * xiStride, Alpha * xiStride);
        }
    }

    /// <summary>Six vectors through G^T (see <see cref="WeightRow(float*, long, float*, long)"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WeightRow(Vector512<float> m0, Vector512<float> m1, Vector512<float> m2, Vector512<float> m3, Vector512<float> m4,
        Vector512<float> m5, float* r, int rs)
    {
        var half = Vector512.Create(0.5f); var fifteenth = Vector512.Create(Fifteenth);
        var thirtieth = Vector512.Create(Thirtieth); var twoFifteenths = Vector512.Create(2 * Fifteenth);
        var s12 = (m1 + m2) * Vector512.Create(Sixth); var d12 = (m1 - m2) * Vector512.Create(Sixth);
        Vector512.Store(Fma(half, m0, Fma(-twoFifteenths, m3, Fma(thirtieth, m4, d12))), r);
        Vector512.Store(Fma(-fifteenth, m3 + m4, s12), r + rs);
        Vector512.Store(Fma(-thirtieth, m3, Fma(twoFifteenths, m4, Fma(half, m5, d12))), r + 2 * rs);
    }

    /// <summary>
    /// dW = G^T M G for 16 (output, input) channel pairs at once: M's 36 vectors at m + xi*xiStride; writes the 9 taps
    /// as 9 vectors of 16 lanes, tap (a, b) at out + (3a + b)*16. <paramref name="tmp"/>: 18*16 floats of scratch.
    /// </summary>
    public static void WeightTaps16(float* m, long xiStride, float* tmp, float* out_)
    {
        const int L = 16;
        for (int k = 0; k < Alpha; k++) // G^T over j (the rows): tmp[a][k]
        {
            float* s = m + k * xiStride;
            long r = Alpha * xiStride;
            WeightRow(Vector512.Load(s), Vector512.Load(s + r), Vector512.Load(s + 2 * r), Vector512.Load(s + 3 * r), Vector512.Load(s + 4 * r),
                Vector512.Load(s + 5 * r), tmp + k * L, Alpha * L);
        }
        for (int a = 0; a < 3; a++) // then over k (the columns): tap (a, b)
        {
            float* t = tmp + a * Alpha * L;
            WeightRow(Vector512.Load(t), Vector512.Load(t + L), Vector512.Load(t + 2 * L), Vector512.Load(t + 3 * L), Vector512.Load(t + 4 * L),
                Vector512.Load(t + 5 * L), out_ + 3 * a * L, L);
        }
    }

    // Transpose16 index vectors: stage h swaps the off-diagonal h x h blocks of each 2h x 2h block.
    private static readonly Vector512<int>[] TransposeLow = [.. new[] { 8, 4, 2, 1 }.Select(h => Vector512.Create(Enumerable.Range(0, 16).Select(l => (l & h) == 0 ? l : 16 + l - h).ToArray()))];
    private static readonly Vector512<int>[] TransposeHigh = [.. new[] { 8, 4, 2, 1 }.Select(h => Vector512.Create(Enumerable.Range(0, 16).Select(l => (l & h) == 0 ? l + h : 16 + l).ToArray()))];

    /// <summary>
    /// Transposes the 16 x 16 block of rows src + i*srcStride (16 floats each) into rows dst + l*dstStride (rows 0 ..
    /// <paramref name="dstRows"/> - 1 only): dst[l][i] = src[i][l]. Four stages of two-source permutes, one per bit of
    /// the row and column index.
    /// </summary>
    public static void Transpose16(float* src, long srcStride, float* dst, long dstStride, int dstRows)
    {
        var r = stackalloc Vector512<float>[16];
        for (int i = 0; i < 16; i++) r[i] = Vector512.Load(src + i * srcStride);
        for (int stage = 0, h = 8; stage < 4; stage++, h >>= 1)
        {
            var lo = TransposeLow[stage]; var hi = TransposeHigh[stage];
            for (int i = 0; i < 16; i++)
            {
                if ((i & h) != 0) continue;
                var a = r[i]; var b = r[i + h];
                r[i] = Avx512F.PermuteVar16x32x2(a, lo, b);
                r[i + h] = Avx512F.PermuteVar16x32x2(a, hi, b);
            }
        }
        for (int l = 0; l < dstRows; l++) Vector512.Store(r[l], dst + l * dstStride);
    }
}
