using Ssd.Engine.Backends.Cpu;
using Ssd.Kernels.Cpu;
using Ssd.Engine.Graph;
using Ssd.Engine.Network;
using Ssd.Kernels.Conv;
using Ssd.Kernels.Core;
using Ssd.Weights.Model;
using Ssd.Weights.Tensors;
using static Ssd.Tests.Engine.NetworkFixtures;

namespace Ssd.Tests.Engine;

/// <summary>A tiny Caffe-style SSD with in-place BatchNorm, Scale and ReLU on conv1, checked against the plain
/// references applied layer by layer (no folding).</summary>
public class PlanBuilderTests
{
    private const int H = 8, W = 8;

    private static TensorData T(string name, int[] shape, float[] values) =>
        new(name, shape, TensorDType.Float32, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    private static (ModelDescription, Dictionary<string, TensorData>) TinyCaffe(int convKernel = 3, int convPad = 1)
    {
        var t = new Dictionary<string, TensorData>();
        void Add(string n, int[] s, float[] v) => t[n] = T(n, s, v);
        Add("conv1.weight", [6, 3, convKernel, convKernel], TestData.Uniform(1, 6 * 3 * convKernel * convKernel, -0.5f, 0.5f));
        Add("conv1.bias", [6], TestData.Uniform(2, 6));
        Add("bn.mean", [6], TestData.Uniform(3, 6));
        Add("bn.variance", [6], TestData.Uniform(4, 6, 0.5f, 2f));
        Add("scale.weight", [6], TestData.Uniform(5, 6, 0.5f, 1.5f));
        Add("scale.bias", [6], TestData.Uniform(6, 6));
        Add("loc.weight", [4, 6, 3, 3], TestData.Uniform(7, 4 * 6 * 9, -0.3f, 0.3f));
        Add("loc.bias", [4], TestData.Uniform(8, 4));
        Add("conf.weight", [2, 6, 3, 3], TestData.Uniform(9, 2 * 6 * 9, -0.3f, 0.3f));
        Add("conf.bias", [2], TestData.Uniform(10, 2));
        LayerSpec Conv(string name, string input, string output, int outC, int inC, int k, int pad) => new ConvolutionLayer
        {
            Name = name, Inputs = [input], Outputs = [output], InChannels = inC, OutChannels = outC, KernelH = k, KernelW = k,
            PadH = pad, PadW = pad, Weight = $"{name}.weight", Bias = $"{name}.bias",
        };
        LayerSpec[] layers =
        [
            Conv("conv1", "data", "conv1", 6, 3, convKernel, convPad),
            new BatchNormLayer { Name = "bn", Inputs = ["conv1"], Outputs = ["conv1"], Channels = 6, Eps = 1e-5f, Mean = "bn.mean", Variance = "bn.variance" },
            new ScaleLayer { Name = "scale", Inputs = ["conv1"], Outputs = ["conv1"], Channels = 6, Scale = "scale.weight", Bias = "scale.bias" },
            new ReluLayer { Name = "relu1", Inputs = ["conv1"], Outputs = ["conv1"] },
            Conv("loc", "conv1", "loc", 4, 6, 3, 1),
            new PermuteLayer { Name = "loc_perm", Inputs = ["loc"], Outputs = ["loc_perm"], Order = [0, 2, 3, 1] },
            new FlattenLayer { Name = "loc_flat", Inputs = ["loc_perm"], Outputs = ["loc_flat"] },
            Conv("conf", "conv1", "conf", 2, 6, 3, 1),
            new PermuteLayer { Name = "conf_perm", Inputs = ["conf"], Outputs = ["conf_perm"], Order = [0, 2, 3, 1] },
            new ReshapeLayer { Name = "conf_reshape", Inputs = ["conf_perm"], Outputs = ["conf_reshape"], Dims = [0, -1, 2] },
            new SoftmaxLayer { Name = "conf_softmax", Inputs = ["conf_reshape"], Outputs = ["conf_softmax"], Axis = 2 },
            new FlattenLayer { Name = "conf_flat", Inputs = ["conf_softmax"], Outputs = ["conf_flat"] },
        ];
        var d = new ModelDescription
        {
            Name = "tiny", Flavor = ModelFlavor.Caffe,
            Input = new InputSpec { Width = W, Height = H, ChannelOrder = ChannelOrder.Bgr, Mean = [0f], Std = [1f], PixelRange = PixelRange.Byte, Resize = ResizeMethod.OpenCvLinear },
            Layers = layers,
            Outputs = new OutputSpec { Loc = "loc_flat", Conf = "conf_flat" },
            Priors = new PriorConfig { Style = ModelFlavor.Caffe, Maps = [new PriorSpec { Source = "conv1", MinSizes = [4f] }] },
            PostProcess = new PostProcessSpec { Style = ModelFlavor.Caffe, NumClasses = 2, ConfidenceThreshold = 0.1f, NmsThreshold = 0.45f, TopK = 10 },
        };
        return (d, t);
    }

    [Test]
    public void BatchNormScaleAndReluFoldIntoTheConvolution()
    {
        var (d, t) = TinyCaffe();
        var plan = PlanBuilder.Build(d, t, W, H);
        var conv1 = plan.Steps.OfType<ConvStep>().Single(s => s.Layer == "conv1");
        Assert.That(conv1.FusedLayers, Is.EqualTo(new[] { "conv1", "bn", "scale", "relu1" }));
        Assert.That(conv1.Params.FuseRelu);
        Assert.That(plan.Steps.OfType<ReluStep>(), Is.Empty);
        // "conv1" names the value after the in-place layers; Flatten/Reshape are views of their inputs.
        Assert.That(plan.Blob("conv1"), Is.SameAs(conv1.Output));
        Assert.That(plan.Blob("loc_flat").Root, Is.SameAs(plan.Blob("loc_perm")));
        Assert.That(plan.Blob("conf_flat").Shape, Is.EqualTo(new[] { 1, H * W * 2 }));
        Assert.That(plan.Blob("conf_reshape").Shape, Is.EqualTo(new[] { 1, H * W, 2 }));
    }

    [Test]
    public void FoldedNetworkEqualsLayerByLayerReferences()
    {
        var (d, t) = TinyCaffe();
        var x = TestData.Uniform(11, 3 * H * W, -2f, 2f);
        using var backend = new CpuBackend();
        using var net = SsdNetwork.Load(d, t, backend, capture: ["conv1"]);
        var output = net.Forward(x, capture: ["conv1"]);

        // conv1, then BatchNorm, Scale and ReLU one after another, in double.
        float[] F(string n) => t[n].ToFloat32();
        var shape = new TensorShape(1, 3, H, W);
        var y = new float[6 * H * W];
        Conv2dReference.Forward(x, shape, F("conv1.weight"), F("conv1.bias"), Conv2dParams.Square(3, pad: 1), 6, y);
        var (mean, variance, scale, bias) = (F("bn.mean"), F("bn.variance"), F("scale.weight"), F("scale.bias"));
        for (int c = 0; c < 6; c++)
            for (int i = 0; i < H * W; i++)
            {
                double v = (y[c * H * W + i] - mean[c]) / Math.Sqrt(variance[c] + 1e-5) * scale[c] + bias[c];
                y[c * H * W + i] = (float)Math.Max(v, 0);
            }
        AssertRelative("conv1 (folded)", output.Captured["conv1"], y, 1e-5);

        var loc = new float[4 * H * W];
        Conv2dReference.Forward(y, new TensorShape(1, 6, H, W), F("loc.weight"), F("loc.bias"), Conv2dParams.Square(3, pad: 1), 4, loc);
        var locNhwc = new float[loc.Length];
        for (int c = 0; c < 4; c++) for (int i = 0; i < H * W; i++) locNhwc[i * 4 + c] = loc[c * H * W + i];
        AssertRelative("loc", output.Loc, locNhwc, 1e-5);
        Assert.That(net.PriorCount, Is.EqualTo(H * W));
    }

    [Test]
    public void ImpossibleShapesNameTheLayer()
    {
        var (d, t) = TinyCaffe(convKernel: 9, convPad: 0);
        var e = Assert.Throws<InvalidDataException>(() => PlanBuilder.Build(d, t, W, H));
        Assert.That(e!.Message, Does.Contain("'conv1'"));
        TestContext.Out.WriteLine(e.Message);

        var (d2, t2) = TinyCaffe();
        var bad = d2 with { Layers = [.. d2.Layers.Select(l => l is ReshapeLayer r ? r with { Dims = [0, -1, 5] } : l)] };
        e = Assert.Throws<InvalidDataException>(() => PlanBuilder.Build(bad, t2, W, H));
        Assert.That(e!.Message, Does.Contain("'conf_reshape'"));
    }

    [Test]
    public void CaptureOfABlobNotDeclaredAtLoadIsRefused()
    {
        var (d, t) = TinyCaffe();
        using var backend = new CpuBackend();
        using var net = SsdNetwork.Load(d, t, backend);
        Assert.Throws<ArgumentException>(() => net.Forward(new float[3 * H * W], capture: ["conv1"]));
        Assert.Throws<ArgumentException>(() => net.Forward(new float[5]));
    }
}
