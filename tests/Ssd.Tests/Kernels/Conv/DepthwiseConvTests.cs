using Ssd.Kernels.Conv;
using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;

namespace Ssd.Tests.Kernels.Conv;

/// <summary>
/// The CPU depthwise convolution (MobileNet's 3x3 filters, vectorised along the output row) at every ISA level this
/// CPU runs: bit for bit a scalar walk that sums in its order (bias, then the taps row by row, a multiply then an add,
/// taps outside the image skipped), and within the conv family's bound of the plain reference; strides 1, 2 and 3,
/// dilation, pads 0 to 2, kernel 5, a channel multiplier of 2, widths that leave vector tails, MobileNet's sizes.
/// </summary>
public class DepthwiseConvTests
{
    public sealed record Case(string Name, TensorShape Input, int Multiplier, Conv2dParams P)
    {
        public override string ToString() => Name;
    }

    private static readonly Case[] Cases =
    [
        new("MobileNet conv1/dw 32x150x150 s1", new(1, 32, 150, 150), 1, Conv2dParams.Square(3, pad: 1, groups: 32, fuseRelu: true)),
        new("MobileNet conv2/dw 64x150x150 s2", new(1, 64, 150, 150), 1, Conv2dParams.Square(3, stride: 2, pad: 1, groups: 64, fuseRelu: true)),
        new("s2 odd width 37, batch 2", new(2, 5, 9, 37), 1, Conv2dParams.Square(3, stride: 2, pad: 1, groups: 5)),
        new("s2 even width 40 no pad", new(1, 4, 8, 40), 1, Conv2dParams.Square(3, stride: 2, groups: 4, fuseRelu: true)),
        new("s1 width 13 pad 2", new(1, 3, 6, 13), 1, Conv2dParams.Square(3, pad: 2, groups: 3)),
        new("s1 width 70 no pad no bias", new(1, 3, 5, 70), 1, Conv2dParams.Square(3, groups: 3, hasBias: false)),
        new("k5 s1 dilation 2 pad 4", new(1, 4, 11, 29), 1, Conv2dParams.Square(5, pad: 4, dilation: 2, groups: 4)),
        new("s3 pad 1", new(1, 3, 10, 31), 1, Conv2dParams.Square(3, stride: 3, pad: 1, groups: 3)),
        new("multiplier 2", new(1, 3, 7, 19), 2, Conv2dParams.Square(3, pad: 1, groups: 3, fuseRelu: true)),
        new("1x1 image", new(1, 8, 1, 1), 1, Conv2dParams.Square(3, pad: 1, groups: 8)),
        new("width 1", new(1, 2, 9, 1), 1, Conv2dParams.Square(3, stride: 2, pad: 1, groups: 2)),
    ];

    private static IEnumerable<TestCaseData> Runs =>
        from c in Cases from isa in Enum.GetValues<CpuIsa>() select new TestCaseData(c, isa).SetArgDisplayNames(c.Name, isa.ToString());

    [TestCaseSource(nameof(Runs))]
    public void VectorRowsSumAsTheScalarWalk(Case c, CpuIsa isa)
    {
        Assume.That(CpuIsaSupport.IsSupported(isa), $"this CPU lacks {isa}");
        int outC = c.Input.C * c.Multiplier;
        var x = TestData.Uniform(3, c.Input.Count, -2f, 2f);
        var w = TestData.Uniform(4, c.P.WeightCount(c.Input.C, outC), -0.5f, 0.5f);
        var b = c.P.HasBias ? TestData.Uniform(5, outC) : [];
        var ys = c.P.OutputShape(c.Input, outC);
        var actual = new float[ys.Count];
        actual.AsSpan().Fill(float.NaN);
        var conv = new CpuConv2d(c.P, c.Input.C, outC, w, b, new CpuConvOptions(isa, CpuConvAlgorithm.Direct, Threads: 2));
        conv.Forward(x, c.Input, actual);
        CpuVariants.AssertBits(actual, ScalarWalk(c, x, w, b, ys), $"{c.Name} {isa}");

        var reference = new float[ys.Count];
        Conv2dReference.Forward(x, c.Input, w, b, c.P, outC, reference);
        TestData.AssertClose(actual, reference, 1e-4f, 1e-5f, $"{c.Name} {isa} vs the plain reference");
    }

    /// <summary>Each output: the bias, then every tap inside the image in row order, multiply then add; then the ReLU.</summary>
    private static float[] ScalarWalk(Case c, float[] x, float[] w, float[] b, TensorShape ys)
    {
        var p = c.P;
        var xs = c.Input;
        var y = new float[ys.Count];
        for (int n = 0; n < ys.N; n++)
        for (int o = 0; o < ys.C; o++)
        {
            int ch = o / c.Multiplier;
            for (int oy = 0; oy < ys.H; oy++)
            for (int ox = 0; ox < ys.W; ox++)
            {
                float acc = p.HasBias ? b[o] : 0f;
                for (int ky = 0; ky < p.KernelH; ky++)
                {
                    int iy = oy * p.StrideH - p.PadH + ky * p.DilationH;
                    if (iy < 0 || iy >= xs.H) continue;
                    for (int kx = 0; kx < p.KernelW; kx++)
                    {
                        int ix = ox * p.StrideW - p.PadW + kx * p.DilationW;
                        if (ix >= 0 && ix < xs.W)
                            acc += w[(o * p.KernelH + ky) * p.KernelW + kx] * x[((n * xs.C + ch) * xs.H + iy) * xs.W + ix];
                    }
                }
                y[((n * ys.C + o) * ys.H + oy) * ys.W + ox] = p.FuseRelu && acc < 0 ? 0 : acc;
            }
        }
        return y;
    }
}
