using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Layout;

/// <summary>
/// Permute and row concatenation, the same floats as <see cref="LayoutReference"/> (they only move data).
/// Permute picks by where the input's contiguous axis lands: still last (whole runs copied), second to last
/// (NCHW -> NHWC, the SSD heads: a transpose per leading index, in 16 x 16 tiles so both sides stay in cache lines),
/// or elsewhere (the general strided walk). Work is spread over the worker threads; nothing is allocated per call.
/// </summary>
internal static unsafe class CpuLayout
{
    private const int Tile = 16;

    /// <summary>y[i0,i1,i2,i3] = x[input coordinates with axis order[k] = ik].</summary>
    public static void Permute(ReadOnlySpan<int> inputDims, ReadOnlySpan<int> order, ReadOnlySpan<float> x, Span<float> y, CpuOpOptions options = default)
    {
        var g = PermuteGeometry.Create(inputDims, order);
        LayoutChecks.Lengths("permute", g.Count, x.Length, y.Length);
        var kind = g.S3 == 1 ? PermuteKind.Runs : g.S2 == 1 ? PermuteKind.Transpose : PermuteKind.Strided;
        // Runs and Strided: a task is a block of (i0, i1, i2) rows; Transpose: one (i0, i1) matrix.
        int items = kind == PermuteKind.Transpose ? g.D0 * g.D1 : g.D0 * g.D1 * g.D2;
        long perItem = g.Count / items;
        int perTask = kind == PermuteKind.Transpose ? 1 : CpuOpOptions.ItemsPerTask(items, perItem, 16384);
        fixed (float* px = x, py = y)
        {
            var job = new PermuteJob(px, py, g, kind, perTask, items);
            WorkerPool.Run((items + perTask - 1) / perTask, options.WorkersFor(g.Count), job, static (j, _, t) => j.Run(t));
        }
    }

    private enum PermuteKind { Runs, Transpose, Strided }

    private readonly struct PermuteJob(float* x, float* y, PermuteGeometry g, PermuteKind kind, int perTask, int items)
    {
        public void Run(int task)
        {
            int end = Math.Min(items, (task + 1) * perTask);
            for (int item = task * perTask; item < end; item++)
            {
                if (kind == PermuteKind.Transpose) Transpose(item);
                else Row(item);
            }
        }

        /// <summary>Output row (i0, i1, i2): D3 floats.</summary>
        private void Row(int row)
        {
            int i2 = row % g.D2, i01 = row / g.D2, i1 = i01 % g.D1, i0 = i01 / g.D1;
            float* src = x + (long)i0 * g.S0 + (long)i1 * g.S1 + (long)i2 * g.S2, dst = y + (long)row * g.D3;
            if (kind == PermuteKind.Runs) new ReadOnlySpan<float>(src, g.D3).CopyTo(new Span<float>(dst, g.D3));
            else for (int i3 = 0; i3 < g.D3; i3++) dst[i3] = src[(long)i3 * g.S3];
        }

        /// <summary>Output matrix (i0, i1): [D2, D3] with y[i2, i3] = x[i2 + i3 * S3], tile by tile.</summary>
        private void Transpose(int item)
        {
            int i1 = item % g.D1, i0 = item / g.D1;
            float* src = x + (long)i0 * g.S0 + (long)i1 * g.S1, dst = y + (long)item * g.D2 * g.D3;
            for (int a0 = 0; a0 < g.D2; a0 += Tile)
            for (int b0 = 0; b0 < g.D3; b0 += Tile)
            {
                int a1 = Math.Min(a0 + Tile, g.D2), b1 = Math.Min(b0 + Tile, g.D3);
                for (int a = a0; a < a1; a++)
                {
                    float* d = dst + (long)a * g.D3;
                    for (int b = b0; b < b1; b++) d[b] = src[a + (long)b * g.S3];
                }
            }
        }
    }

    /// <summary>
    /// Concatenates [rows, len_i] matrices along axis 1 into [rows, sum len_i], like
    /// <see cref="LayoutReference.ConcatRows"/>; input t is source[offsets[t] .. offsets[t] + lengths[t]] (slices
    /// of one buffer, e.g. the backend's arena), y must not overlap them.
    /// </summary>
    public static void ConcatRows(int rows, ReadOnlySpan<float> source, ReadOnlySpan<int> offsets, ReadOnlySpan<int> lengths, Span<float> y,
        CpuOpOptions options = default)
    {
        if (rows <= 0) throw new ArgumentException($"concat: rows {rows} must be positive");
        if (offsets.Length == 0 || offsets.Length != lengths.Length)
            throw new ArgumentException($"concat: {offsets.Length} input offsets and {lengths.Length} lengths (need the same number, at least one)");
        long total = 0;
        for (int t = 0; t < lengths.Length; t++)
        {
            if (offsets[t] < 0 || lengths[t] < 0 || (long)offsets[t] + lengths[t] > source.Length)
                throw new ArgumentException($"concat: input {t} [{offsets[t]}, +{lengths[t]}) lies outside the {source.Length} source floats");
            if (lengths[t] % rows != 0) throw new ArgumentException($"concat: input {t} has {lengths[t]} floats, not a multiple of {rows} rows");
            total += lengths[t];
        }
        if (total != y.Length) throw new ArgumentException($"concat: output has {y.Length} floats, the inputs total {total}");
        int inputs = lengths.Length;
        fixed (float* ps = source, py = y)
        fixed (int* po = offsets, pl = lengths)
        {
            var job = new ConcatJob(ps, py, po, pl, rows, (int)(total / rows));
            // A copy only gains from a second thread when it is large (SSD's concats, under 1 MB, are not).
            WorkerPool.Run(inputs * rows, options.WorkersFor(total / 16), job, static (j, _, t) => j.Run(t));
        }
    }

    private readonly struct ConcatJob(float* source, float* y, int* offsets, int* lengths, int rows, int rowLength)
    {
        /// <summary>Task t: input t / rows, row t % rows.</summary>
        public void Run(int task)
        {
            int input = task / rows, r = task % rows, len = lengths[input] / rows, column = 0;
            for (int t = 0; t < input; t++) column += lengths[t] / rows;
            new ReadOnlySpan<float>(source + offsets[input] + (long)r * len, len)
                .CopyTo(new Span<float>(y + (long)r * rowLength + column, len));
        }
    }
}
