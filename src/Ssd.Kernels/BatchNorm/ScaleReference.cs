namespace Ssd.Kernels.BatchNorm;

/// <summary>
/// Plain C# reference of Caffe's Scale layer with a learned scale (one bottom): y = x * scale[c], then + bias[c]
/// when it has a bias term, each rounded (Caffe scales, then its Bias layer adds). The channel axis and its extent
/// (Caffe's axis / num_axes) are in the geometry.
/// </summary>
public static class ScaleReference
{
    /// <summary>Plain C# reference of Caffe's Scale: y = x * scale[c] (+ bias[c]) for every element of channel c.</summary>
    /// <param name="bias">One value per channel, or empty for no bias term.</param>
    /// <param name="g">The geometry: outer blocks, channels and the inner size.</param>
    /// <param name="x">The input, row-major (NCHW for a feature map).</param>
    /// <param name="scale">The per-channel scale, [channels].</param>
    /// <param name="y">Receives the output.</param>
    public static void Forward(ChannelGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> scale, ReadOnlySpan<float> bias, Span<float> y)
    {
        if (bias.Length == 0) g.Check("scale", x.Length, y.Length, ("scale", scale.Length));
        else g.Check("scale", x.Length, y.Length, ("scale", scale.Length), ("bias", bias.Length));
        for (int o = 0; o < g.Outer; o++)
        for (int c = 0; c < g.Channels; c++)
        {
            int at = (o * g.Channels + c) * g.Inner;
            for (int i = at; i < at + g.Inner; i++) y[i] = bias.Length == 0 ? x[i] * scale[c] : x[i] * scale[c] + bias[c];
        }
    }
}
