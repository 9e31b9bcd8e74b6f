namespace Ssd.Kernels.Layout;

/// <summary>
/// A 4-D permutation as kernel-ready ints: output dims, and for each output axis the input stride it walks.
/// Output axis i is input axis order[i] (numpy transpose / Caffe Permute / torch permute semantics), so
/// NCHW -> NHWC, as SSD's heads need before flattening, is order (0, 2, 3, 1).
/// </summary>
public readonly record struct PermuteGeometry(int D0, int D1, int D2, int D3, int S0, int S1, int S2, int S3)
{
    /// <summary>The number of elements.</summary>
    public long Count => (long)D0 * D1 * D2 * D3;

    /// <summary>The NCHW -> NHWC order used by the SSD heads.</summary>
    public static readonly int[] NchwToNhwc = [0, 2, 3, 1];

    /// <summary>The output dimensions, outermost first.</summary>
    public int[] OutputDims => [D0, D1, D2, D3];

    /// <summary>The geometry of permuting a 4-D tensor.</summary>
    /// <param name="inputDims">The input dimensions, 4 positive values.</param>
    /// <param name="order">For each output axis the input axis it takes: a permutation of 0..3.</param>
    /// <exception cref="ArgumentException">Not 4 dimensions, a non-positive dimension, or not a permutation.</exception>
    public static PermuteGeometry Create(ReadOnlySpan<int> inputDims, ReadOnlySpan<int> order)
    {
        if (inputDims.Length != 4) throw new ArgumentException($"permute: expected 4 input dims, got {inputDims.Length}");
        if (order.Length != 4) throw new ArgumentException($"permute: expected an order of 4 axes, got {order.Length}");
        long count = 1;
        foreach (int d in inputDims)
        {
            if (d <= 0) throw new ArgumentException($"permute: input dims [{string.Join(", ", inputDims.ToArray())}] have a non-positive entry");
            count *= d;
        }
        if (count > int.MaxValue) throw new ArgumentException($"permute: {count} elements is more than 2^31");
        Span<bool> seen = stackalloc bool[4];
        foreach (int a in order)
        {
            if (a < 0 || a > 3 || seen[a])
                throw new ArgumentException($"permute: order [{string.Join(", ", order.ToArray())}] is not a permutation of 0..3");
            seen[a] = true;
        }
        Span<int> stride = stackalloc int[4];
        stride[3] = 1;
        for (int a = 2; a >= 0; a--) stride[a] = stride[a + 1] * inputDims[a + 1];
        return new PermuteGeometry(
            inputDims[order[0]], inputDims[order[1]], inputDims[order[2]], inputDims[order[3]],
            stride[order[0]], stride[order[1]], stride[order[2]], stride[order[3]]);
    }
}
