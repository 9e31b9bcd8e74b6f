using Ssd.Kernels.Conv;
using Ssd.Kernels.Core;
using Ssd.Tests.Kernels.OpMatrix;
using static Ssd.Tests.Kernels.OpMatrix.OpMatrix;

namespace Ssd.Tests.Kernels.Conv;

/// <summary>
/// Convolutions for the op matrix: the odd small shapes of the CPU and device conv tests (kernel sizes, strides,
/// dilation, groups, depthwise, no bias, fused ReLU, batch 2), a few larger ones, and SSD300's layers for perf mode.
/// Weights are scaled like a trained layer's (~1/sqrt(fan-in)) so outputs stay O(1) at every size.
/// </summary>
public sealed class ConvCases : IOpCaseList
{
    private static readonly (string Name, TensorShape Input, int OutC, Conv2dParams P, CaseSize Size)[] Shapes =
    [
        ("odd 7x5 k3 pad1 bias relu", new(1, 3, 7, 5), 5, Conv2dParams.Square(3, pad: 1, fuseRelu: true), CaseSize.Small),
        ("k1 batch2 no bias", new(2, 4, 5, 6), 6, Conv2dParams.Square(1, hasBias: false), CaseSize.Small),
        ("k5 stride2 pad2", new(1, 2, 9, 11), 4, Conv2dParams.Square(5, stride: 2, pad: 2), CaseSize.Small),
        ("k3 stride2 no pad, odd edge", new(1, 3, 8, 9), 3, Conv2dParams.Square(3, stride: 2), CaseSize.Small),
        ("dilation6 pad6 relu", new(1, 2, 9, 8), 3, Conv2dParams.Square(3, pad: 6, dilation: 6, fuseRelu: true), CaseSize.Small),
        ("k1 stride2", new(1, 3, 7, 7), 4, Conv2dParams.Square(1, stride: 2), CaseSize.Small),
        ("1x3 kernel pad 0x1 batch2 relu", new(2, 3, 4, 6), 2, new Conv2dParams(1, 3, PadW: 1, FuseRelu: true), CaseSize.Small),
        ("several tiles: M 70, N 81, K 27", new(1, 3, 9, 9), 70, Conv2dParams.Square(3, pad: 1, fuseRelu: true), CaseSize.Small),
        ("groups 2", new(1, 4, 6, 6), 6, Conv2dParams.Square(3, pad: 1, groups: 2), CaseSize.Small),
        ("depthwise stride2 batch2 relu", new(2, 5, 7, 7), 5, Conv2dParams.Square(3, stride: 2, pad: 1, groups: 5, fuseRelu: true), CaseSize.Small),
        ("depthwise no bias", new(1, 3, 5, 5), 3, Conv2dParams.Square(3, pad: 1, groups: 3, hasBias: false), CaseSize.Small),
        ("k3 s1 wide channels batch2 no bias", new(2, 24, 11, 10), 32, Conv2dParams.Square(3, pad: 1, hasBias: false), CaseSize.Large),
        ("k3 s1 pad1 batch2 odd 38x37", new(2, 8, 38, 37), 12, Conv2dParams.Square(3, pad: 1, fuseRelu: true), CaseSize.Large),
        ("dilation6 pad6 K blocks", new(1, 40, 13, 13), 20, Conv2dParams.Square(3, pad: 6, dilation: 6), CaseSize.Large),
        // The register-tiled GEMMs' edges: two M tiles of 128 (the second ragged), N tiles of 128 across images, K past
        // 8-steps; and the SSD300 / SSD512 / MobileNet-SSD shapes in small: SSD512's 4x4 conv10_2, the stride-2 extras,
        // fc6's dilation 6, pad-0 3x3 (conv8_2), depthwise and pointwise MobileNet layers.
        ("gemm tiles: M 150, N 2x13x11, K 21x9", new(2, 21, 13, 11), 150, Conv2dParams.Square(3, pad: 1, fuseRelu: true), CaseSize.Large),
        ("k4 pad1 (SSD512 conv10_2)", new(1, 6, 4, 5), 7, Conv2dParams.Square(4, pad: 1, fuseRelu: true), CaseSize.Small),
        ("k3 stride2 pad1 19x19 (conv6_2)", new(2, 16, 19, 19), 24, Conv2dParams.Square(3, stride: 2, pad: 1, fuseRelu: true), CaseSize.Large),
        ("k3 pad0 5x5 (conv8_2)", new(3, 10, 5, 5), 9, Conv2dParams.Square(3, fuseRelu: true), CaseSize.Small),
        ("fc6 dilation6 pad6 19x19", new(1, 24, 19, 19), 40, Conv2dParams.Square(3, pad: 6, dilation: 6, fuseRelu: true), CaseSize.Large),
        ("MobileNet depthwise 3x3 s2 32ch", new(2, 32, 15, 15), 32, Conv2dParams.Square(3, stride: 2, pad: 1, groups: 32, fuseRelu: true), CaseSize.Large),
        ("MobileNet pointwise 64->96 10x10", new(2, 64, 10, 10), 96, Conv2dParams.Square(1, fuseRelu: true), CaseSize.Large),
        ("winograd odd 9x7 pad1 C 20 M 12", new(2, 20, 9, 7), 12, Conv2dParams.Square(3, pad: 1), CaseSize.Small),
        ("k1 K blocks: 300 channels", new(1, 300, 7, 9), 10, Conv2dParams.Square(1), CaseSize.Large),
        ("1x1 image 3x3 pad1 (conv11_2-like)", new(1, 16, 1, 1), 8, Conv2dParams.Square(3, pad: 1), CaseSize.Large),
        ("MobileNet-SSD conv2/dw 64x150x150 s2 relu", new(1, 64, 150, 150), 64, Conv2dParams.Square(3, stride: 2, pad: 1, groups: 64, fuseRelu: true), CaseSize.Large),
        ("MobileNet-SSD conv7/dw 512x19x19 s1 relu", new(1, 512, 19, 19), 512, Conv2dParams.Square(3, pad: 1, groups: 512, fuseRelu: true), CaseSize.Large),
        ("SSD300 conv1_1 3x300x300", new(1, 3, 300, 300), 64, Conv2dParams.Square(3, pad: 1, fuseRelu: true), CaseSize.Perf),
        ("SSD300 conv4_3 512x38x38", new(1, 512, 38, 38), 512, Conv2dParams.Square(3, pad: 1, fuseRelu: true), CaseSize.Perf),
        ("SSD300 fc6 dilated 512x19x19", new(1, 512, 19, 19), 1024, Conv2dParams.Square(3, pad: 6, dilation: 6, fuseRelu: true), CaseSize.Perf),
        ("SSD300 fc7 1x1 1024x19x19", new(1, 1024, 19, 19), 1024, Conv2dParams.Square(1, fuseRelu: true), CaseSize.Perf),
        ("SSD300 conv4_3 loc head 512x38x38", new(1, 512, 38, 38), 16, Conv2dParams.Square(3, pad: 1), CaseSize.Perf),
        // dx as a Winograd forward conv (cpu.simd.winograd4x4 on every 3x3 stride-1 case with pad <= 2): pad 2 here, and
        // a shape where the default cpu.simd picks it too (dy 32 x 19 x 19 onto 16 channels).
        ("k3 pad2 batch2 odd 7x9 relu", new(2, 6, 7, 9), 5, Conv2dParams.Square(3, pad: 2, fuseRelu: true), CaseSize.Small),
        ("winograd dx by default: pad1 relu 16 -> 32 on 19x19", new(1, 16, 19, 19), 32, Conv2dParams.Square(3, pad: 1, fuseRelu: true), CaseSize.Large),
    ];

    public static IEnumerable<IOpCase> Cases =>
        Shapes.Select((s, i) => Case(s.Name, s.Input, s.OutC, s.P, s.Size, seed: 100 + 3 * i))
            .Concat(Shapes.Select((s, i) => Backward(s.Name, s.Input, s.OutC, s.P, s.Size, seed: 500 + 5 * i)));

    /// <summary>
    /// Backward reads x, the output y when the ReLU is fused (a ReLU output: half zeros; any y defines the mask, so
    /// no forward runs here) and dy; it writes dx, dw and db.
    /// </summary>
    private static IOpCase Backward(string name, TensorShape input, int outC, Conv2dParams p, CaseSize size, int seed)
    {
        long perOut = p.WeightCount(input.C, outC) / outC;
        float scale = 1f / MathF.Sqrt(perOut);
        var weights = new ConvWeights(Uniform(seed, p.WeightCount(input.C, outC), -scale, scale), p.HasBias ? Uniform(seed + 1, outC, -0.5f, 0.5f) : null);
        var parameters = new ConvParams(p, input, outC, () => weights);
        long outCount = parameters.Output.Count;
        float[][] reads = p.FuseRelu
            ? [Uniform(seed + 2, input.Count), [.. Uniform(seed + 3, outCount).Select(v => Math.Max(v, 0f))], Uniform(seed + 4, outCount)]
            : [Uniform(seed + 2, input.Count), Uniform(seed + 4, outCount)];
        long[] gradients = p.HasBias ? [input.Count, weights.Weight.Length, outC] : [input.Count, weights.Weight.Length];
        return new OpCase<ConvParams>($"conv backward {name}", ConvVariants.Conv2d, OpPass.Backward, parameters, reads, gradients, size);
    }

    private static IOpCase Case(string name, TensorShape input, int outC, Conv2dParams p, CaseSize size, int seed)
    {
        long perOut = p.WeightCount(input.C, outC) / outC;
        float scale = 1f / MathF.Sqrt(perOut);
        var weights = new ConvWeights(Uniform(seed, p.WeightCount(input.C, outC), -scale, scale), p.HasBias ? Uniform(seed + 1, outC, -0.5f, 0.5f) : null);
        var parameters = new ConvParams(p, input, outC, () => weights);
        return new OpCase<ConvParams>($"conv {name}", ConvVariants.Conv2d, OpPass.Forward, parameters, [Uniform(seed + 2, input.Count)],
            [parameters.Output.Count], size);
    }
}
