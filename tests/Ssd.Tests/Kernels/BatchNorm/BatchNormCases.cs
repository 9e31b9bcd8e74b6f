using Ssd.Kernels.BatchNorm;
using Ssd.Kernels.Core;
using Ssd.Tests.Kernels.OpMatrix;
using static Ssd.Tests.Kernels.OpMatrix.OpMatrix;

namespace Ssd.Tests.Kernels.BatchNorm;

/// <summary>The BatchNorm family's channel-affine op for the op matrix: ResNet-SSD's input and post-sum BatchNorm +
/// Scale (+ ReLU) at their sizes, each stage alone, a [N, C] blob (inner 1) and odd shapes, on spiky data.</summary>
public sealed class BatchNormCases : IOpCaseList
{
    public static IEnumerable<IOpCase> Cases =>
    [
        Case("data_bn + data_scale 3x300x300", new(1, 3, 300 * 300), true, true, true, false, CaseSize.Large),
        Case("bn + scale + relu 32x75x75", new(1, 32, 75 * 75), true, true, true, true, CaseSize.Large),
        Case("bn + scale + relu 256x19x19 batch 2", new(2, 256, 19 * 19), true, true, true, true, CaseSize.Large),
        Case("bn + scale + relu 4x5x7 batch 2", new(2, 4, 35), true, true, true, true, CaseSize.Small),
        Case("bn alone 5x7x9", new(1, 5, 63), true, false, false, false, CaseSize.Small),
        Case("scale alone, inner 1 (a [N, C] blob)", new(3, 40, 1), false, true, false, false, CaseSize.Small),
        Case("scale + bias + relu, inner 3", new(2, 7, 3), false, true, true, true, CaseSize.Small),
        Case("relu alone", new(1, 1, 1000), false, false, false, true, CaseSize.Small),
    ];

    public static ChannelAffine Affine(ChannelGeometry g, bool norm, bool scale, bool bias, bool relu, int seed) => new()
    {
        Mean = norm ? Uniform(seed, g.Channels, -2f, 2f) : null,
        Variance = norm ? Uniform(seed + 1, g.Channels, 0f, 3f) : null,
        Eps = 1e-5f,
        Scale = scale ? Uniform(seed + 2, g.Channels, -1.5f, 1.5f) : null,
        Bias = bias ? Uniform(seed + 3, g.Channels) : null,
        Relu = relu,
    };

    private static IOpCase Case(string name, ChannelGeometry g, bool norm, bool scale, bool bias, bool relu, CaseSize size)
    {
        var affine = Affine(g, norm, scale, bias, relu, 7);
        return new OpCase<AffineParams>(name, BatchNormVariants.Affine, OpPass.Forward, new AffineParams(g, () => affine), [Spiky(8, g.Count)], [g.Count], size);
    }
}
