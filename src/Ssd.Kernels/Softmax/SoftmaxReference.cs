namespace Ssd.Kernels.Softmax;

/// <summary>
/// Plain C# softmax along one axis of a tensor viewed as [outer, classes, inner].
/// Box scores [boxes, classes] (Caffe's Softmax on the reshaped [N, boxes, classes] mbox_conf) are
/// outer = N*boxes, inner = 1; an NCHW channel softmax is outer = N, classes = C, inner = H*W.
/// </summary>
public static class SoftmaxReference
{
    /// <summary>Numerically stable: subtracts each column's max before exp, then divides by the sum.</summary>
    public static void Forward(int outer, int classes, int inner, ReadOnlySpan<float> x, Span<float> y)
    {
        SoftmaxChecks.Shape(outer, classes, inner, x.Length, y.Length);
        var column = new float[classes];
        for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++)
        {
            int first = o * classes * inner + i;
            if (inner == 1)
            {
                Row(x.Slice(first, classes), y.Slice(first, classes));
                continue;
            }
            for (int k = 0; k < classes; k++) column[k] = x[first + k * inner];
            Row(column, column);
            for (int k = 0; k < classes; k++) y[first + k * inner] = column[k];
        }
    }

    /// <summary>
    /// The one host softmax loop, over one row of class scores: the max, exp(x - max) summed in class order, each
    /// divided by the sum. Safe in place (y may be x). The host post-processing and the managed CPU backend call it;
    /// the device kernel does its arithmetic in its order.
    /// </summary>
    public static void Row(ReadOnlySpan<float> x, Span<float> y)
    {
        y = y[..x.Length];
        float max = float.NegativeInfinity;
        foreach (float v in x) max = MathF.Max(max, v);
        float sum = 0f;
        for (int k = 0; k < x.Length; k++)
        {
            float e = MathF.Exp(x[k] - max);
            y[k] = e;
            sum += e;
        }
        for (int k = 0; k < y.Length; k++) y[k] /= sum;
    }

    /// <summary>Softmax of each row of a [rows, classes] matrix.</summary>
    public static void Rows(int rows, int classes, ReadOnlySpan<float> x, Span<float> y) => Forward(rows, classes, 1, x, y);
}

internal static class SoftmaxChecks
{
    public static void Shape(int outer, int classes, int inner, long xLength, long yLength)
    {
        if (outer <= 0 || classes <= 0 || inner <= 0)
            throw new ArgumentException($"softmax: shape [outer {outer}, classes {classes}, inner {inner}] has a non-positive dimension");
        long count = (long)outer * classes * inner;
        if (count > int.MaxValue) throw new ArgumentException($"softmax: {count} elements is more than 2^31");
        if (xLength != count) throw new ArgumentException($"softmax: input has {xLength} floats, [{outer}, {classes}, {inner}] needs {count}");
        if (yLength != count) throw new ArgumentException($"softmax: output has {yLength} floats, [{outer}, {classes}, {inner}] needs {count}");
    }
}
