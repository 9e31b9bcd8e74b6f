using System.Diagnostics;
using ILGPU.Runtime;
using Ssd.Kernels.Conv;
using Ssd.Kernels.Core;

namespace Ssd.Tests.Kernels.Conv;

public class Conv2dTests
{
    /// <summary>One convolution problem: input shape, output channels and parameters.</summary>
    public sealed record Case(string Name, TensorShape Input, int OutC, Conv2dParams P)
    {
        public override string ToString() => Name;
    }

    // Small shapes for the CPU simulator: each must stay tiny (the tiled kernel's barriers cost milliseconds there).
    private static readonly Case[] SmallCases =
    [
        new("odd 7x5 k3 pad1 bias relu", new(1, 3, 7, 5), 5, Conv2dParams.Square(3, pad: 1, fuseRelu: true)),
        new("k1 batch2 no bias", new(2, 4, 5, 6), 6, Conv2dParams.Square(1, hasBias: false)),
        new("k5 stride2 pad2", new(1, 2, 9, 11), 4, Conv2dParams.Square(5, stride: 2, pad: 2)),
        new("k3 stride2 no pad, odd edge", new(1, 3, 8, 9), 3, Conv2dParams.Square(3, stride: 2)),
        new("dilation6 pad6 relu", new(1, 2, 9, 8), 3, Conv2dParams.Square(3, pad: 6, dilation: 6, fuseRelu: true)),
        new("k1 stride2", new(1, 3, 7, 7), 4, Conv2dParams.Square(1, stride: 2)),
        new("1x3 kernel pad 0x1 batch2 relu", new(2, 3, 4, 6), 2, new Conv2dParams(1, 3, PadW: 1, FuseRelu: true)),
        new("several tiles: M 70, N 81, K 27", new(1, 3, 9, 9), 70, Conv2dParams.Square(3, pad: 1, fuseRelu: true)),
        new("groups 2", new(1, 4, 6, 6), 6, Conv2dParams.Square(3, pad: 1, groups: 2)),
        new("depthwise stride2 batch2 relu", new(2, 5, 7, 7), 5, Conv2dParams.Square(3, stride: 2, pad: 1, groups: 5, fuseRelu: true)),
        new("depthwise no bias", new(1, 3, 5, 5), 3, Conv2dParams.Square(3, pad: 1, groups: 3, hasBias: false)),
    ];

    /// <summary>Every (case, variant) pair the variant supports.</summary>
    public static IEnumerable<TestCaseData> SmallCasesAndVariants() =>
        from c in SmallCases
        from v in new[] { Conv2dVariant.Naive, Conv2dVariant.Tiled, Conv2dVariant.Pointwise }
        where v == Conv2dVariant.Naive || c.P.Groups == 1
        where v != Conv2dVariant.Pointwise || Conv2dOp.IsPointwise(c.P)
        select new TestCaseData(c, v).SetArgDisplayNames(c.Name, v.ToString());

    [TestCaseSource(nameof(SmallCasesAndVariants))]
    // The variant is passed as object: the test method is public, the variant type internal to Ssd.Kernels.
    public void CpuSimMatchesReference(Case c, object variant) =>
        CheckAgainstReference(TestDevices.CpuSim, c, (Conv2dVariant)variant, rtol: 1e-5f, atol: 1e-5f);

    [Test]
    public void OpenCLSmallCasesMatchReference()
    {
        var device = TestDevices.OpenCL;
        foreach (var data in SmallCasesAndVariants())
            CheckAgainstReference(device, (Case)data.Arguments[0]!, (Conv2dVariant)data.Arguments[1]!, rtol: 1e-5f, atol: 1e-5f);
    }

    // SSD300 layers at their real sizes, batch 1, on PoCL.
    private static readonly Case Conv4_3 = new("conv4_3", new(1, 512, 38, 38), 512, Conv2dParams.Square(3, pad: 1, fuseRelu: true));
    private static readonly Case Fc6 = new("fc6", new(1, 512, 19, 19), 1024, Conv2dParams.Square(3, pad: 6, dilation: 6, fuseRelu: true));
    private static readonly Case Conv8_1 = new("conv8_1", new(1, 1024, 19, 19), 256, Conv2dParams.Square(1, fuseRelu: true));

    [Test]
    public void OpenCLConv4_3Tiled() => CheckAgainstReference(TestDevices.OpenCL, Conv4_3, Conv2dVariant.Tiled, 1e-4f, 1e-4f);

    [Test]
    public void OpenCLFc6Tiled() => CheckAgainstReference(TestDevices.OpenCL, Fc6, Conv2dVariant.Tiled, 1e-4f, 1e-4f);

    [Test]
    public void OpenCLFc6Naive() => CheckAgainstReference(TestDevices.OpenCL, Fc6, Conv2dVariant.Naive, 1e-4f, 1e-4f);

    [Test]
    public void OpenCLConv8_1Pointwise() => CheckAgainstReference(TestDevices.OpenCL, Conv8_1, Conv2dVariant.Pointwise, 1e-4f, 1e-4f);

    [Test]
    public void AutoPicksNaiveForGroupsAndTiledOtherwise()
    {
        Assert.That(Conv2dOp.Choose(Conv2dParams.Square(3, groups: 2), BackendKind.OpenCL), Is.EqualTo(Conv2dVariant.Naive));
        Assert.That(Conv2dOp.Choose(Conv2dParams.Square(3, pad: 1), BackendKind.OpenCL), Is.EqualTo(Conv2dVariant.Tiled));
        Assert.That(Conv2dOp.Choose(Conv2dParams.Square(1), BackendKind.OpenCL), Is.EqualTo(Conv2dVariant.Pointwise));
        Assert.That(Conv2dOp.Choose(Conv2dParams.Square(1, stride: 2), BackendKind.OpenCL), Is.EqualTo(Conv2dVariant.Tiled));
    }

    [Test]
    public void AutoVariantMatchesReferenceOnCpuSim() =>
        CheckAgainstReference(TestDevices.CpuSim, SmallCases[0], Conv2dVariant.Auto, 1e-5f, 1e-5f);

    [Test]
    public void OutputShapeFollowsTheConvolutionFormula()
    {
        // SSD300: conv4_3 keeps 38x38; fc6 (3x3, dilation 6, pad 6) keeps 19x19; conv8_2 (3x3 stride 2 pad 1) halves 19 to 10.
        Assert.That(Conv2dParams.Square(3, pad: 1).OutputShape(new(1, 512, 38, 38), 512), Is.EqualTo(new TensorShape(1, 512, 38, 38)));
        Assert.That(Conv2dParams.Square(3, pad: 6, dilation: 6).OutputShape(new(1, 512, 19, 19), 1024), Is.EqualTo(new TensorShape(1, 1024, 19, 19)));
        Assert.That(Conv2dParams.Square(3, stride: 2, pad: 1).OutputShape(new(2, 256, 19, 19), 512), Is.EqualTo(new TensorShape(2, 512, 10, 10)));
        Assert.That(Conv2dParams.Square(3).OutputShape(new(1, 128, 3, 3), 256), Is.EqualTo(new TensorShape(1, 256, 1, 1)));
    }

    [Test]
    public void BadParametersAreRejectedWithTheirReason()
    {
        var input = new TensorShape(1, 6, 5, 5);
        Assert.That(() => Conv2dParams.Square(3, groups: 4).OutputShape(input, 8),
            Throws.ArgumentException.With.Message.Contains("input channels 6 are not divisible by groups 4"));
        Assert.That(() => Conv2dParams.Square(3, groups: 3).OutputShape(input, 8),
            Throws.ArgumentException.With.Message.Contains("output channels 8 are not divisible by groups 3"));
        Assert.That(() => Conv2dParams.Square(7).OutputShape(input, 8),
            Throws.ArgumentException.With.Message.Contains("non-positive output"));
        Assert.That(() => Conv2dParams.Square(3, pad: 2, dilation: 6).OutputShape(input, 8),
            Throws.ArgumentException.With.Message.Contains("non-positive output"));
        Assert.That(() => Conv2dParams.Square(0).OutputShape(input, 8), Throws.ArgumentException.With.Message.Contains("kernel size"));
        Assert.That(() => Conv2dParams.Square(3, stride: 0).OutputShape(input, 8), Throws.ArgumentException.With.Message.Contains("stride"));
        Assert.That(() => Conv2dParams.Square(3, pad: -1).OutputShape(input, 8), Throws.ArgumentException.With.Message.Contains("padding"));
    }

    [Test]
    public void WrongTensorLengthsAreRejected()
    {
        var p = Conv2dParams.Square(3, pad: 1);
        var input = new TensorShape(1, 2, 4, 4);
        var x = new float[32];
        var w = new float[3 * 2 * 9];
        var b = new float[3];
        var y = new float[3 * 16];
        Assert.That(() => Conv2dReference.Forward(x, input, w.AsSpan(1), b, p, 3, y), Throws.ArgumentException.With.Message.Contains("weight has 53 elements"));
        Assert.That(() => Conv2dReference.Forward(x, input, w, b.AsSpan(1), p, 3, y), Throws.ArgumentException.With.Message.Contains("bias has 2 elements"));
        Assert.That(() => Conv2dReference.Forward(x.AsSpan(1), input, w, b, p, 3, y), Throws.ArgumentException.With.Message.Contains("input has 31 elements"));
        Assert.That(() => Conv2dReference.Forward(x, input, w, b, p, 3, y.AsSpan(1)), Throws.ArgumentException.With.Message.Contains("output has 47 elements"));

        var device = TestDevices.CpuSim;
        using var dx = device.Upload(x);
        using var dw = device.Upload(w.AsSpan(1));
        using var db = device.Upload(b);
        using var dy = device.Allocate(y.Length);
        Assert.That(() => new Conv2dOp(device).Forward(dx.View, input, dw.View, db.View, p, 3, dy.View),
            Throws.ArgumentException.With.Message.Contains("weight has 53 elements"));
    }

    [Test]
    public void TiledVariantsRefuseWhatTheyCannotDo()
    {
        var device = TestDevices.CpuSim;
        var input = new TensorShape(1, 4, 4, 4);
        using var x = device.Allocate(input.Count);
        using var w = device.Allocate(4 * 2 * 9);
        using var b = device.Allocate(4);
        using var y = device.Allocate(4 * 16);
        var op = new Conv2dOp(device);
        Assert.That(() => op.Forward(x.View, input, w.View, b.View, Conv2dParams.Square(3, pad: 1, groups: 2), 4, y.View, Conv2dVariant.Tiled),
            Throws.ArgumentException.With.Message.Contains("groups == 1"));
        using var w1 = device.Allocate(4 * 4 * 9);
        Assert.That(() => op.Forward(x.View, input, w1.View, b.View, Conv2dParams.Square(3, pad: 1), 4, y.View, Conv2dVariant.Pointwise),
            Throws.ArgumentException.With.Message.Contains("1x1 kernel"));
    }

    private static void CheckAgainstReference(ComputeDevice device, Case c, Conv2dVariant variant, float rtol, float atol)
    {
        var outShape = c.P.OutputShape(c.Input, c.OutC);
        long k = c.P.WeightCount(c.Input.C, c.OutC) / c.OutC;
        var x = TestData.Uniform(11, c.Input.Count);
        // Weights scaled like a trained layer's (~1/sqrt(fan-in)) so outputs stay O(1) at every size.
        var scale = 1f / MathF.Sqrt(k);
        var w = TestData.Uniform(12, c.P.WeightCount(c.Input.C, c.OutC), -scale, scale);
        var b = c.P.HasBias ? TestData.Uniform(13, c.OutC, -0.5f, 0.5f) : [];
        var channels = SampledChannels(c.OutC);
        var expected = ParallelReference(x, c.Input, w, b, c.P, c.OutC, channels);

        using var dx = device.Upload(x);
        using var dw = device.Upload(w);
        using var db = device.Upload(c.P.HasBias ? b : [0f]);
        using var dy = device.Allocate(outShape.Count);
        var clock = Stopwatch.StartNew();
        new Conv2dOp(device).Forward(dx.View, c.Input, dw.View, db.View, c.P, c.OutC, dy.View, variant);
        device.Synchronize();
        TestContext.Out.WriteLine($"{c.Name} {variant} on {device.Kind}: {clock.Elapsed.TotalMilliseconds:F0} ms (first launch includes kernel load)");
        var actual = dy.GetAsArray1D();
        int plane = outShape.PlaneSize;
        for (int n = 0; n < outShape.N; n++)
            foreach (int o in channels)
            {
                int at = (int)outShape.Offset(n, o, 0, 0);
                TestData.AssertClose(actual.AsSpan(at, plane), expected.AsSpan(at, plane), rtol, atol,
                    $"{c.Name} {variant} on {device.Kind}, image {n} channel {o}");
            }
    }

    /// <summary>
    /// The output channels compared: all of them for small layers; for SSD-sized ones a sample (every 37th channel
    /// plus the first, last and those either side of each 64-channel tile edge), because the C# reference of a full
    /// 3.4-GMAC layer takes minutes on a shared test machine. Every compared plane is compared whole, edges included.
    /// </summary>
    private static int[] SampledChannels(int outC) =>
        outC <= 128 ? Enumerable.Range(0, outC).ToArray()
        : Enumerable.Range(0, outC).Where(o => o % 37 == 0 || o % 64 is 0 or 1 or 63 || o == outC - 1).ToArray();

    /// <summary>The reference for the given output channels only (other planes stay zero), one plane per parallel task.</summary>
    private static float[] ParallelReference(float[] x, TensorShape input, float[] w, float[] b, Conv2dParams p, int outC, int[] channels)
    {
        var outShape = p.OutputShape(input, outC);
        var y = new float[outShape.Count];
        p.CheckLengths(input, outC, x.Length, w.Length, b.Length, y.Length);
        Parallel.For(0, outShape.N * channels.Length, i =>
            Conv2dReference.ForwardPlane(x, input, w, b, p, outC, i / channels.Length, channels[i % channels.Length], y));
        return y;
    }
}
