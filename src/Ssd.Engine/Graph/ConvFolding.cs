namespace Ssd.Engine.Graph;

/// <summary>
/// Inference-time BatchNorm and Scale are per-output-channel affine maps, so after a convolution they fold into
/// its weights and bias: y = k * (W x + b) + c = (k W) x + (k b + c). Computed in double, rounded once.
/// </summary>
public static class ConvFolding
{
    /// <summary>BatchNorm: k = 1 / sqrt(var + eps), c = -mean * k.</summary>
    public static ConvStep FoldBatchNorm(ConvStep conv, float[] mean, float[] variance, float eps, PlanValue output, string layer)
    {
        var k = new double[conv.OutChannels];
        var c = new double[conv.OutChannels];
        for (int o = 0; o < k.Length; o++)
        {
            k[o] = 1.0 / Math.Sqrt((double)variance[o] + eps);
            c[o] = -mean[o] * k[o];
        }
        return Fold(conv, k, c, output, layer);
    }

    /// <summary>Scale: k = scale, c = bias (or 0).</summary>
    public static ConvStep FoldScale(ConvStep conv, float[] scale, float[]? bias, PlanValue output, string layer) =>
        Fold(conv, scale.Select(s => (double)s).ToArray(), bias?.Select(b => (double)b).ToArray() ?? new double[conv.OutChannels], output, layer);

    private static ConvStep Fold(ConvStep conv, double[] k, double[] c, PlanValue output, string layer)
    {
        int perOut = conv.Weight.Length / conv.OutChannels;
        var w = new float[conv.Weight.Length];
        var b = new float[conv.OutChannels];
        for (int o = 0; o < conv.OutChannels; o++)
        {
            for (int i = 0; i < perOut; i++) w[o * perOut + i] = (float)(conv.Weight[o * perOut + i] * k[o]);
            b[o] = (float)((conv.Bias is null ? 0.0 : conv.Bias[o]) * k[o] + c[o]);
        }
        return conv with { Output = output, Weight = w, Bias = b, Params = conv.Params with { HasBias = true }, FusedLayers = [.. conv.FusedLayers, layer] };
    }
}
