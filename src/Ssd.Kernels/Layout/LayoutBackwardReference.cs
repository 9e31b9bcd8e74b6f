namespace Ssd.Kernels.Layout;

/// <summary>
/// Plain C# gradients of the layout ops. They move values and add nothing, so each is exact:
/// permute's is the inverse permutation (dx at input coordinates = dy at the permuted ones), concat's splits dy
/// back into the inputs' columns, and flatten's and reshape's is dy itself under the input's shape (the same bytes).
/// </summary>
public static class LayoutBackwardReference
{
    /// <summary>dx[input coordinates] = dy[their permuted coordinates]: <see cref="LayoutReference.Permute"/> read backwards.</summary>
    public static void Permute(ReadOnlySpan<int> inputDims, ReadOnlySpan<int> order, ReadOnlySpan<float> dY, Span<float> dX)
    {
        var g = PermuteGeometry.Create(inputDims, order);
        LayoutChecks.Lengths("permute backward", g.Count, dX.Length, dY.Length);
        int o = 0;
        for (int i0 = 0; i0 < g.D0; i0++)
        for (int i1 = 0; i1 < g.D1; i1++)
        for (int i2 = 0; i2 < g.D2; i2++)
        for (int i3 = 0; i3 < g.D3; i3++)
            dX[i0 * g.S0 + i1 * g.S1 + i2 * g.S2 + i3 * g.S3] = dY[o++];
    }

    /// <summary>Splits dy [rows, sum len_i] into the inputs' gradients [rows, len_i] (<see cref="LayoutReference.ConcatRows"/> read backwards).</summary>
    public static void ConcatRows(int rows, ReadOnlySpan<float> dY, IReadOnlyList<float[]> dInputs)
    {
        var lengths = LayoutChecks.RowLengths(rows, dInputs.Select(a => (long)a.Length).ToArray(), dY.Length);
        int total = lengths.Sum(), offset = 0;
        for (int t = 0; t < dInputs.Count; t++)
        {
            for (int r = 0; r < rows; r++)
                dY.Slice(r * total + offset, lengths[t]).CopyTo(dInputs[t].AsSpan(r * lengths[t], lengths[t]));
            offset += lengths[t];
        }
    }

    /// <summary>The inverse permutation: inverse[order[k]] = k, so permuting by order then by inverse is the identity.</summary>
    public static int[] InverseOrder(ReadOnlySpan<int> order)
    {
        var inverse = new int[order.Length];
        Array.Fill(inverse, -1);
        for (int k = 0; k < order.Length; k++)
        {
            if ((uint)order[k] >= (uint)order.Length || inverse[order[k]] >= 0)
                throw new ArgumentException($"permute: order [{string.Join(", ", order.ToArray())}] is not a permutation of 0..{order.Length - 1}");
            inverse[order[k]] = k;
        }
        return inverse;
    }

    /// <summary>The permuted tensor's dims: dims[order[k]] for each output axis k.</summary>
    public static int[] PermutedDims(ReadOnlySpan<int> inputDims, ReadOnlySpan<int> order)
    {
        if (inputDims.Length != order.Length) throw new ArgumentException($"permute: {inputDims.Length} dims but an order of {order.Length} axes");
        InverseOrder(order);
        var dims = new int[order.Length];
        for (int k = 0; k < order.Length; k++) dims[k] = inputDims[order[k]];
        return dims;
    }

    /// <summary>Flatten and reshape: dx = dy, element for element (only the shape differs).</summary>
    public static void Reshape(ReadOnlySpan<float> dY, Span<float> dX)
    {
        if (dX.Length != dY.Length) throw new ArgumentException($"reshape backward: dy has {dY.Length} floats, dx {dX.Length}");
        dY.CopyTo(dX);
    }
}
