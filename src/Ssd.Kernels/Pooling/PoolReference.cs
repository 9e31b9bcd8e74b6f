namespace Ssd.Kernels.Pooling;

/// <summary>Plain C# max and average pooling over NCHW float32, one output at a time.</summary>
public static class PoolReference
{
    /// <summary>Max over the window clipped to the real input: padding never wins.</summary>
    public static void Max(PoolGeometry g, ReadOnlySpan<float> x, Span<float> y)
    {
        Check(g, x, y);
        for (int nc = 0; nc < g.N * g.C; nc++)
        for (int oh = 0; oh < g.OutH; oh++)
        for (int ow = 0; ow < g.OutW; ow++)
        {
            int h0 = oh * g.StrideH - g.PadH, w0 = ow * g.StrideW - g.PadW;
            int h1 = Math.Min(h0 + g.KernelH, g.H), w1 = Math.Min(w0 + g.KernelW, g.W);
            h0 = Math.Max(h0, 0); w0 = Math.Max(w0, 0);
            float m = float.NegativeInfinity;
            for (int h = h0; h < h1; h++)
            for (int w = w0; w < w1; w++)
            {
                float v = x[(nc * g.H + h) * g.W + w];
                if (v > m) m = v;
            }
            y[(nc * g.OutH + oh) * g.OutW + ow] = m;
        }
    }

    /// <summary>Sum over the window clipped to the real input, divided as <paramref name="divisor"/> says.</summary>
    public static void Average(PoolGeometry g, AvgPoolDivisor divisor, ReadOnlySpan<float> x, Span<float> y)
    {
        Check(g, x, y);
        for (int nc = 0; nc < g.N * g.C; nc++)
        for (int oh = 0; oh < g.OutH; oh++)
        for (int ow = 0; ow < g.OutW; ow++)
        {
            int h0 = oh * g.StrideH - g.PadH, w0 = ow * g.StrideW - g.PadW;
            // The padded window: clipped to the far edge of the padding, not of the input.
            int h1 = Math.Min(h0 + g.KernelH, g.H + g.PadH), w1 = Math.Min(w0 + g.KernelW, g.W + g.PadW);
            int paddedCount = (h1 - h0) * (w1 - w0);
            h0 = Math.Max(h0, 0); w0 = Math.Max(w0, 0);
            h1 = Math.Min(h1, g.H); w1 = Math.Min(w1, g.W);
            int count = divisor == AvgPoolDivisor.PaddedWindow ? paddedCount : (h1 - h0) * (w1 - w0);
            float sum = 0f;
            for (int h = h0; h < h1; h++)
            for (int w = w0; w < w1; w++)
                sum += x[(nc * g.H + h) * g.W + w];
            y[(nc * g.OutH + oh) * g.OutW + ow] = sum / count;
        }
    }

    private static void Check(PoolGeometry g, ReadOnlySpan<float> x, Span<float> y)
    {
        if (x.Length != g.Input.Count) throw new ArgumentException($"pooling: input has {x.Length} floats, shape {g.Input} needs {g.Input.Count}");
        if (y.Length != g.Output.Count) throw new ArgumentException($"pooling: output has {y.Length} floats, shape {g.Output} needs {g.Output.Count}");
    }
}
