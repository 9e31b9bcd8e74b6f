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
        for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++)
        {
            int first = o * classes * inner + i;
            Row(x[first..], y[first..], classes, inner);
        }
    }

    /// <summary>
    /// The one host softmax loop: the max, exp(x - max) summed in class order, each divided by the sum, over the
    /// <paramref name="classes"/> values <paramref name="stride"/> apart. Safe in place (y may be x). The host
    /// post-processing and the managed CPU backend call it; the device kernel does its arithmetic in its order.
    /// </summary>
    public static void Row(ReadOnlySpan<float> x, Span<float> y, int classes, int stride = 1)
    {
        float max = float.NegativeInfinity;
        for (int k = 0; k < classes; k++) max = MathF.Max(max, x[k * stride]);
        float sum = 0f;
        for (int k = 0; k < classes; k++)
        {
            float e = MathF.Exp(x[k * stride] - max);
            y[k * stride] = e;
            sum += e;
        }
        for (int k = 0; k < classes; k++) y[k * stride] /= sum;
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
