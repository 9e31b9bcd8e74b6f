using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Layout;

/// <summary>
/// The layout ops' gradients on the CPU, the same floats as <see cref="LayoutBackwardReference"/> (moves only):
/// permute's is <see cref="CpuLayout.Permute"/> with the inverse order applied to dy, concat's copies dy's column
/// ranges back into the inputs' gradients row by row, reshape's is a copy (none when dx is dy's buffer).
/// </summary>
internal static unsafe class LayoutBackwardSimd
{
    /// <summary>dx = dy read through the inverse permutation.</summary>
    public static void Permute(ReadOnlySpan<int> inputDims, ReadOnlySpan<int> order, ReadOnlySpan<float> dY, Span<float> dX, CpuOpOptions options = default)
    {
        var inverse = LayoutBackwardReference.InverseOrder(order);
        CpuLayout.Permute(LayoutBackwardReference.PermutedDims(inputDims, order), inverse, dY, dX, options);
    }

    /// <summary>
    /// Splits dy [rows, sum len_t] into the inputs' gradients: gradient t is target[offsets[t] .. + lengths[t]]
    /// ([rows, lengths[t] / rows]), slices of one buffer that must not overlap dy.
    /// </summary>
    public static void ConcatRows(int rows, ReadOnlySpan<float> dY, Span<float> target, ReadOnlySpan<int> offsets, ReadOnlySpan<int> lengths,
        CpuOpOptions options = default)
    {
        if (rows <= 0) throw new ArgumentException($"concat backward: rows {rows} must be positive");
        if (offsets.Length == 0 || offsets.Length != lengths.Length)
            throw new ArgumentException($"concat backward: {offsets.Length} gradient offsets and {lengths.Length} lengths (need the same number, at least one)");
        long total = 0;
        for (int t = 0; t < lengths.Length; t++)
        {
            if (offsets[t] < 0 || lengths[t] < 0 || (long)offsets[t] + lengths[t] > target.Length)
                throw new ArgumentException($"concat backward: gradient {t} [{offsets[t]}, +{lengths[t]}) lies outside the {target.Length} target floats");
            if (lengths[t] % rows != 0) throw new ArgumentException($"concat backward: gradient {t} has {lengths[t]} floats, not a multiple of {rows} rows");
            total += lengths[t];
        }
        if (total != dY.Length) throw new ArgumentException($"concat backward: dy has {dY.Length} floats, the inputs total {total}");
        fixed (float* pdy = dY, pt = target)
        fixed (int* po = offsets, pl = lengths)
        {
            var job = (Dy: (nint)pdy, T: (nint)pt, O: (nint)po, L: (nint)pl, Rows: rows, RowLength: (int)(total / rows));
            WorkerPool.Run(lengths.Length * rows, options.WorkersFor(total / 16), job, static (j, _, task) =>
            {
                int* lengths = (int*)j.L;
                int input = task / j.Rows, r = task % j.Rows, len = lengths[input] / j.Rows, column = 0;
                for (int t = 0; t < input; t++) column += lengths[t] / j.Rows;
                new ReadOnlySpan<float>((float*)j.Dy + (long)r * j.RowLength + column, len)
                    .CopyTo(new Span<float>((float*)j.T + ((int*)j.O)[input] + (long)r * len, len));
            });
        }
    }

    /// <summary>Flatten and reshape: dx = dy.</summary>
    public static void Reshape(ReadOnlySpan<float> dY, Span<float> dX) => LayoutBackwardReference.Reshape(dY, dX);
}
