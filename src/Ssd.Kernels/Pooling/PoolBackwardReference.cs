namespace Ssd.Kernels.Pooling;

/// <summary>
/// Plain C# max pooling with its argmax, and the gradients of max and average pooling, for every geometry
/// <see cref="PoolGeometry"/> accepts (each flavour's output rule only changes the geometry).
/// <para>
/// The argmax of an output is the index, inside its input plane (h * W + w, torch's convention for
/// max_pool2d's indices), of the cell the forward's "if (v &gt; m) m = v" scan kept: the first maximum in window
/// order (rows top to bottom, each left to right), as torch and Caffe pick it. A window whose values never beat
/// -infinity (all -inf, or NaN, which <see cref="PoolReference.Max"/> never takes) points at its first cell, as
/// torch's does.
/// </para>
/// <para>
/// Gradients are summed in float in output order (planes, then output rows, then columns), which is also the
/// order torch's CPU backward adds them in; an input cell shared by overlapping windows (pool5's 3x3 stride 1)
/// collects one term per window that chose it. dx is overwritten.
/// </para>
/// </summary>
public static class PoolBackwardReference
{
    /// <summary>
    /// <see cref="PoolReference.Max"/>'s output, bit for bit, plus each output's argmax (see the class remarks).
    /// </summary>
    public static void MaxWithArgmax(PoolGeometry g, ReadOnlySpan<float> x, Span<float> y, Span<int> argmax)
    {
        CheckForward(g, x.Length, y.Length);
        if (argmax.Length != g.Output.Count)
            throw new ArgumentException($"pooling: argmax has {argmax.Length} entries, output {g.Output} needs {g.Output.Count}");
        for (int nc = 0; nc < g.N * g.C; nc++)
        for (int oh = 0; oh < g.OutH; oh++)
        for (int ow = 0; ow < g.OutW; ow++)
        {
            int h0 = oh * g.StrideH - g.PadH, w0 = ow * g.StrideW - g.PadW;
            int h1 = Math.Min(h0 + g.KernelH, g.H), w1 = Math.Min(w0 + g.KernelW, g.W);
            h0 = Math.Max(h0, 0); w0 = Math.Max(w0, 0);
            float m = float.NegativeInfinity;
            int best = h0 * g.W + w0;
            for (int h = h0; h < h1; h++)
            for (int w = w0; w < w1; w++)
            {
                float v = x[(nc * g.H + h) * g.W + w];
                if (v > m) { m = v; best = h * g.W + w; }
            }
            int o = (nc * g.OutH + oh) * g.OutW + ow;
            y[o] = m;
            argmax[o] = best;
        }
    }

    /// <summary>dx[plane, argmax[o]] += dy[o] for every output o in order, from zero.</summary>
    public static void MaxBackward(PoolGeometry g, ReadOnlySpan<int> argmax, ReadOnlySpan<float> dY, Span<float> dX)
    {
        CheckBackward(g, dY.Length, dX.Length);
        if (argmax.Length != g.Output.Count)
            throw new ArgumentException($"pooling backward: argmax has {argmax.Length} entries, output {g.Output} needs {g.Output.Count}");
        int plane = g.H * g.W, outPlane = g.OutH * g.OutW;
        dX.Clear();
        for (int nc = 0; nc < g.N * g.C; nc++)
        for (int i = 0; i < outPlane; i++)
        {
            int o = nc * outPlane + i, a = argmax[o];
            if ((uint)a >= (uint)plane)
                throw new ArgumentException($"pooling backward: argmax[{o}] = {a} lies outside the {g.H}x{g.W} input plane");
            dX[nc * plane + a] += dY[o];
        }
    }

    /// <summary>
    /// Each output's gradient divided by its window's divisor (<see cref="PoolReference.Average"/>'s: padded or
    /// valid cells) and added to every real input cell of its window.
    /// </summary>
    public static void AverageBackward(PoolGeometry g, AvgPoolDivisor divisor, ReadOnlySpan<float> dY, Span<float> dX)
    {
        CheckBackward(g, dY.Length, dX.Length);
        if (divisor is not (AvgPoolDivisor.PaddedWindow or AvgPoolDivisor.ValidWindow))
            throw new ArgumentException($"pooling backward: unknown average divisor {divisor}");
        dX.Clear();
        for (int nc = 0; nc < g.N * g.C; nc++)
        for (int oh = 0; oh < g.OutH; oh++)
        for (int ow = 0; ow < g.OutW; ow++)
        {
            var (h0, h1, w0, w1, count) = AverageWindow(g, divisor, oh, ow);
            float share = dY[(nc * g.OutH + oh) * g.OutW + ow] / count;
            for (int h = h0; h < h1; h++)
            for (int w = w0; w < w1; w++)
                dX[(nc * g.H + h) * g.W + w] += share;
        }
    }

    /// <summary>The real cells [h0, h1) x [w0, w1) of an average window and its divisor, as the forward computes them.</summary>
    public static (int H0, int H1, int W0, int W1, int Count) AverageWindow(PoolGeometry g, AvgPoolDivisor divisor, int oh, int ow)
    {
        int h0 = oh * g.StrideH - g.PadH, w0 = ow * g.StrideW - g.PadW;
        int h1 = Math.Min(h0 + g.KernelH, g.H + g.PadH), w1 = Math.Min(w0 + g.KernelW, g.W + g.PadW);
        int paddedCount = (h1 - h0) * (w1 - w0);
        h0 = Math.Max(h0, 0); w0 = Math.Max(w0, 0);
        h1 = Math.Min(h1, g.H); w1 = Math.Min(w1, g.W);
        int count = divisor == AvgPoolDivisor.PaddedWindow ? paddedCount : (h1 - h0) * (w1 - w0);
        return (h0, h1, w0, w1, count);
    }

    private static void CheckForward(PoolGeometry g, long xLength, long yLength)
    {
        if (xLength != g.Input.Count) throw new ArgumentException($"pooling: input has {xLength} floats, shape {g.Input} needs {g.Input.Count}");
        if (yLength != g.Output.Count) throw new ArgumentException($"pooling: output has {yLength} floats, shape {g.Output} needs {g.Output.Count}");
    }

    internal static void CheckBackward(PoolGeometry g, long dyLength, long dxLength)
    {
        if (dyLength != g.Output.Count) throw new ArgumentException($"pooling backward: dy has {dyLength} floats, output {g.Output} needs {g.Output.Count}");
        if (dxLength != g.Input.Count) throw new ArgumentException($"pooling backward: dx has {dxLength} floats, input {g.Input} needs {g.Input.Count}");
    }
}
