namespace Ssd.Kernels.Layout;

/// <summary>Plain C# permute and concat.</summary>
public static class LayoutReference
{
    /// <summary>y[i0,i1,i2,i3] = x[input coordinates with axis order[k] = ik].</summary>
    public static void Permute(ReadOnlySpan<int> inputDims, ReadOnlySpan<int> order, ReadOnlySpan<float> x, Span<float> y)
    {
        var g = PermuteGeometry.Create(inputDims, order);
        LayoutChecks.Lengths("permute", g.Count, x.Length, y.Length);
        int o = 0;
        for (int i0 = 0; i0 < g.D0; i0++)
        for (int i1 = 0; i1 < g.D1; i1++)
        for (int i2 = 0; i2 < g.D2; i2++)
        for (int i3 = 0; i3 < g.D3; i3++)
            y[o++] = x[i0 * g.S0 + i1 * g.S1 + i2 * g.S2 + i3 * g.S3];
    }

    /// <summary>
    /// Concatenates [rows, len_i] matrices along axis 1 into [rows, sum len_i]. SSD's flattened head outputs
    /// (each [N, boxes_i * 4] or [N, boxes_i * classes]) are joined this way into mbox_loc / mbox_conf.
    /// </summary>
    public static void ConcatRows(int rows, IReadOnlyList<float[]> inputs, Span<float> y)
    {
        var lengths = LayoutChecks.RowLengths(rows, inputs.Select(a => (long)a.Length).ToArray(), y.Length);
        int total = lengths.Sum(), offset = 0;
        for (int t = 0; t < inputs.Count; t++)
        {
            for (int r = 0; r < rows; r++)
                inputs[t].AsSpan(r * lengths[t], lengths[t]).CopyTo(y.Slice(r * total + offset, lengths[t]));
            offset += lengths[t];
        }
    }
}

/// <summary>Flatten needs no kernel: in row-major storage it is the same bytes under a new shape.</summary>
internal static class Flatten
{
    /// <summary>
    /// Caffe's Flatten (axis=1): [N, d1, d2, ...] -> [N, d1*d2*...]. Returns the new shape only; the data are
    /// reused as they are, so SSD's permute(NHWC) + flatten is a single permute kernel.
    /// </summary>
    public static int[] Shape(ReadOnlySpan<int> dims, int axis = 1)
    {
        if (dims.Length == 0) throw new ArgumentException("flatten: a tensor with no dims");
        if (axis < 0 || axis >= dims.Length) throw new ArgumentException($"flatten: axis {axis} outside 0..{dims.Length - 1}");
        long inner = 1;
        for (int a = axis; a < dims.Length; a++) inner *= dims[a];
        if (inner > int.MaxValue) throw new ArgumentException($"flatten: {inner} elements after axis {axis} is more than 2^31");
        var shape = dims[..axis].ToArray().ToList();
        shape.Add((int)inner);
        return shape.ToArray();
    }
}

internal static class LayoutChecks
{
    public static void Lengths(string op, long count, long xLength, long yLength)
    {
        if (xLength != count) throw new ArgumentException($"{op}: input has {xLength} floats, expected {count}");
        if (yLength != count) throw new ArgumentException($"{op}: output has {yLength} floats, expected {count}");
    }

    /// <summary>Each input's row length (input length / rows), checking divisibility and the output size.</summary>
    public static int[] RowLengths(int rows, IReadOnlyList<long> inputLengths, long outputLength)
    {
        if (rows <= 0) throw new ArgumentException($"concat: rows {rows} must be positive");
        if (inputLengths.Count == 0) throw new ArgumentException("concat: no inputs");
        var lengths = new int[inputLengths.Count];
        long total = 0;
        for (int t = 0; t < lengths.Length; t++)
        {
            if (inputLengths[t] % rows != 0)
                throw new ArgumentException($"concat: input {t} has {inputLengths[t]} floats, not a multiple of {rows} rows");
            lengths[t] = checked((int)(inputLengths[t] / rows));
            total += inputLengths[t];
        }
        if (total != outputLength) throw new ArgumentException($"concat: output has {outputLength} floats, the inputs total {total}");
        if (total > int.MaxValue) throw new ArgumentException($"concat: {total} elements is more than 2^31");
        return lengths;
    }

    /// <summary>
    /// Concat along any axis of row-major tensors is concat along axis 1 of [outer, dim_axis * inner] rows,
    /// outer being the product of the dims before the axis. Checks the other dims agree.
    /// </summary>
    public static int OuterRows(IReadOnlyList<int[]> shapes, int axis)
    {
        if (shapes.Count == 0) throw new ArgumentException("concat: no inputs");
        int rank = shapes[0].Length;
        if (axis < 0 || axis >= rank) throw new ArgumentException($"concat: axis {axis} outside 0..{rank - 1}");
        for (int t = 0; t < shapes.Count; t++)
        {
            if (shapes[t].Length != rank) throw new ArgumentException($"concat: input {t} has rank {shapes[t].Length}, input 0 has {rank}");
            for (int a = 0; a < rank; a++)
            {
                if (shapes[t][a] <= 0) throw new ArgumentException($"concat: input {t} has a non-positive dim");
                if (a != axis && shapes[t][a] != shapes[0][a])
                    throw new ArgumentException($"concat: input {t} has dim {a} = {shapes[t][a]}, input 0 has {shapes[0][a]} (only axis {axis} may differ)");
            }
        }
        long outer = 1;
        for (int a = 0; a < axis; a++) outer *= shapes[0][a];
        return checked((int)outer);
    }
}
