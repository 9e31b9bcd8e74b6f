using Ssd.Kernels.Activation;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.BatchNorm;

/// <summary>
/// BatchNorm, Scale and ReLU over one channel axis, each optional, applied in that order: what a network keeps
/// as an op when no convolution can absorb them (after an Eltwise sum, on the network input, on a value other
/// layers also read). Running it is by definition running <see cref="BatchNormReference"/>,
/// <see cref="ScaleReference"/> and <see cref="ReluReference"/> one after another; every variant computes each
/// element with <see cref="Apply"/>, the same float operations in the same order, so all are bit for bit equal.
/// </summary>
public sealed record ChannelAffine
{
    /// <summary>BatchNorm's mean and variance (both or neither) and eps.</summary>
    public float[]? Mean { get; init; }
    /// <summary>BatchNorm's running variance, [C] (with <see cref="Mean"/>).</summary>
    public float[]? Variance { get; init; }
    /// <summary>BatchNorm's epsilon, added to the variance.</summary>
    public float Eps { get; init; }

    /// <summary>Scale's factors and optional bias (a bias needs the factors).</summary>
    public float[]? Scale { get; init; }
    /// <summary>Scale's bias, [C] (needs <see cref="Scale"/>).</summary>
    public float[]? Bias { get; init; }

    /// <summary>Whether ReLU follows.</summary>
    public bool Relu { get; init; }

    /// <summary>The stage bits of <see cref="Flags"/>: BatchNorm, Scale's factors, Scale's bias, ReLU.</summary>
    public const int NormalizeFlag = 1, ScaleFlag = 2, BiasFlag = 4, ReluFlag = 8;

    /// <summary>Which stages run, as the kernels take it.</summary>
    public int Flags => (Mean is not null ? NormalizeFlag : 0) | (Scale is not null ? ScaleFlag : 0) | (Bias is not null ? BiasFlag : 0)
        | (Relu ? ReluFlag : 0);

    /// <summary>sqrt(variance + eps) per channel (BatchNorm's divisor), or null without BatchNorm.</summary>
    public float[]? StdDev() => Variance is null ? null : BatchNormReference.StdDev(Variance, Eps);

    /// <summary>Checks that the stages fit together and the geometry's channel count.</summary>
    public void Check(ChannelGeometry g, long xLength, long yLength)
    {
        if ((Mean is null) != (Variance is null)) throw new ArgumentException("channel affine: BatchNorm needs both mean and variance");
        if (Bias is not null && Scale is null) throw new ArgumentException("channel affine: a bias needs the scale factors");
        var parameters = new List<(string, long)>();
        if (Mean is not null) { parameters.Add(("mean", Mean.Length)); parameters.Add(("variance", Variance!.Length)); }
        if (Scale is not null) parameters.Add(("scale", Scale.Length));
        if (Bias is not null) parameters.Add(("bias", Bias.Length));
        g.Check("channel affine", xLength, yLength, [.. parameters]);
    }

    /// <summary>One element through the stages in <paramref name="flags"/> (divisor sd = sqrt(variance + eps)).</summary>
    public static float Apply(float x, int flags, float mean, float sd, float scale, float bias)
    {
        if ((flags & NormalizeFlag) != 0) x = BatchNormReference.Normalize(x, mean, sd);
        if ((flags & ScaleFlag) != 0) x = RoundedMath.Mul(x, scale); // never fused with the bias's add
        if ((flags & BiasFlag) != 0) x += bias;
        if ((flags & ReluFlag) != 0) x = x > 0f ? x : 0f;
        return x;
    }

    /// <summary>The reference: the stages' own references, one after another (y may be x).</summary>
    public void Reference(ChannelGeometry g, ReadOnlySpan<float> x, Span<float> y)
    {
        Check(g, x.Length, y.Length);
        x.CopyTo(y);
        if (Mean is not null) BatchNormReference.Forward(g, y, Mean, Variance, Eps, y);
        if (Scale is not null) ScaleReference.Forward(g, y, Scale, Bias ?? [], y);
        if (Relu) ReluReference.Forward(y, y);
    }
}
