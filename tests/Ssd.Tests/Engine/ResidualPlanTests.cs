using Ssd.Engine.Graph;
using Ssd.Engine.Network;
using Ssd.Kernels.Activation;
using Ssd.Kernels.BatchNorm;
using Ssd.Kernels.Conv;
using Ssd.Kernels.Core;
using Ssd.Kernels.Eltwise;
using Ssd.Weights.Model;
using Ssd.Weights.Tensors;
using static Ssd.Tests.Engine.NetworkFixtures;

namespace Ssd.Tests.Engine;

/// <summary>
/// A tiny ResNet-SSD-style graph: BatchNorm + Scale on the input, a residual block whose Eltwise sum is followed by
/// BatchNorm + Scale + ReLU (no convolution can absorb them), and a Scale over all of C, H, W. Checked for how the
/// plan keeps these as steps (and folds what it can), and, on every backend, against the plain references applied
/// layer by layer.
/// </summary>
public class ResidualPlanTests
{
    private const int H = 6, W = 7, C = 4;

    private static TensorData T(string name, int[] shape, float[] values) =>
        new(name, shape, TensorDType.Float32, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    private static (ModelDescription, Dictionary<string, TensorData>) Tiny(EltwiseOperation op = EltwiseOperation.Sum, float[]? coefficients = null)
    {
        var t = new Dictionary<string, TensorData>();
        void Add(string n, int[] s, float[] v) => t[n] = T(n, s, v);
        Add("data_bn.mean", [3], [100f, 110f, 120f]);
        Add("data_bn.variance", [3], [900f, 1600f, 2500f]);
        Add("data_scale.scale", [3], TestData.Uniform(1, 3, 0.5f, 1.5f));
        Add("data_scale.bias", [3], TestData.Uniform(2, 3));
        Add("conv1.weight", [C, 3, 3, 3], TestData.Uniform(3, C * 27, -0.5f, 0.5f));
        Add("conv1.bias", [C], TestData.Uniform(4, C));
        Add("conv2.weight", [C, C, 3, 3], TestData.Uniform(5, C * C * 9, -0.5f, 0.5f));
        Add("bn.mean", [C], TestData.Uniform(6, C));
        Add("bn.variance", [C], TestData.Uniform(7, C, 0.5f, 2f));
        Add("scale.scale", [C], TestData.Uniform(8, C, 0.5f, 1.5f));
        Add("scale.bias", [C], TestData.Uniform(9, C));
        Add("wide.scale", [C * H * W], TestData.Uniform(10, C * H * W, 0.5f, 1.5f));
        Add("loc.weight", [4, C, 3, 3], TestData.Uniform(11, 4 * C * 9, -0.3f, 0.3f));
        Add("loc.bias", [4], TestData.Uniform(12, 4));
        Add("conf.weight", [2, C, 3, 3], TestData.Uniform(13, 2 * C * 9, -0.3f, 0.3f));
        Add("conf.bias", [2], TestData.Uniform(14, 2));
        LayerSpec Conv(string name, string input, string output, int inC, bool bias = true) => new ConvolutionLayer
        {
            Name = name, Inputs = [input], Outputs = [output], InChannels = inC, OutChannels = name == "loc" ? 4 : name == "conf" ? 2 : C,
            KernelH = 3, KernelW = 3, PadH = 1, PadW = 1, Weight = $"{name}.weight", Bias = bias ? $"{name}.bias" : null,
        };
        LayerSpec[] layers =
        [
            new BatchNormLayer { Name = "data_bn", Inputs = ["data"], Outputs = ["data_bn"], Channels = 3, Eps = 1e-5f, Mean = "data_bn.mean", Variance = "data_bn.variance" },
            new ScaleLayer { Name = "data_scale", Inputs = ["data_bn"], Outputs = ["data_bn"], Channels = 3, Scale = "data_scale.scale", Bias = "data_scale.bias" },
            Conv("conv1", "data_bn", "conv1", 3),
            new ReluLayer { Name = "relu1", Inputs = ["conv1"], Outputs = ["conv1"] },
            Conv("conv2", "conv1", "conv2", C, bias: false),
            new EltwiseLayer { Name = "sum", Inputs = ["conv2", "conv1"], Outputs = ["sum"], Operation = op, Coefficients = coefficients ?? [] },
            new BatchNormLayer { Name = "bn", Inputs = ["sum"], Outputs = ["bn"], Channels = C, Eps = 1e-5f, Mean = "bn.mean", Variance = "bn.variance" },
            new ScaleLayer { Name = "scale", Inputs = ["bn"], Outputs = ["bn"], Channels = C, Scale = "scale.scale", Bias = "scale.bias" },
            new ReluLayer { Name = "relu2", Inputs = ["bn"], Outputs = ["bn"] },
            new ScaleLayer { Name = "wide", Inputs = ["bn"], Outputs = ["bn"], Channels = C * H * W, NumAxes = -1, Scale = "wide.scale" },
            Conv("loc", "bn", "loc", C),
            new PermuteLayer { Name = "loc_perm", Inputs = ["loc"], Outputs = ["loc_perm"], Order = [0, 2, 3, 1] },
            new FlattenLayer { Name = "loc_flat", Inputs = ["loc_perm"], Outputs = ["loc_flat"] },
            Conv("conf", "bn", "conf", C),
            new PermuteLayer { Name = "conf_perm", Inputs = ["conf"], Outputs = ["conf_perm"], Order = [0, 2, 3, 1] },
            new FlattenLayer { Name = "conf_flat", Inputs = ["conf_perm"], Outputs = ["conf_flat"] },
        ];
        var d = new ModelDescription
        {
            Name = "tiny-resnet", Flavor = ModelFlavor.Caffe,
            Input = new InputSpec { Width = W, Height = H, ChannelOrder = ChannelOrder.Bgr, Mean = [0f], Std = [1f], PixelRange = PixelRange.Byte, Resize = ResizeMethod.OpenCvLinear },
            Layers = layers,
            Outputs = new OutputSpec { Loc = "loc_flat", Conf = "conf_flat", ConfIsProbability = false },
            Priors = new PriorConfig { Style = ModelFlavor.Caffe, Maps = [new PriorSpec { Source = "bn", MinSizes = [4f] }] },
            PostProcess = new PostProcessSpec { Style = ModelFlavor.Caffe, NumClasses = 2, ConfidenceThreshold = 0.1f, NmsThreshold = 0.45f, TopK = 10 },
        };
        return (d, t);
    }

    [Test]
    public void UnfoldableBatchNormAndScaleBecomeAffineSteps()
    {
        var (d, t) = Tiny();
        var plan = PlanBuilder.Build(d, t, W, H, batch: 2);
        var affine = plan.Steps.OfType<AffineStep>().ToList();
        Assert.That(affine.Select(a => a.FusedLayers), Is.EqualTo(new[] { new[] { "data_bn", "data_scale" }, ["bn", "scale", "relu2"], ["wide"] }));
        Assert.That(affine[0].Geometry, Is.EqualTo(new ChannelGeometry(2, 3, H * W)));
        Assert.That(affine[2].Geometry, Is.EqualTo(new ChannelGeometry(2, C * H * W, 1)), "num_axes -1: a factor per (c, y, x)");
        Assert.That(affine[1].Affine.Relu && !affine[0].Affine.Relu);
        // The network input keeps its storage (it is re-uploaded, never overwritten); the later ones run in place.
        Assert.That(affine[0].Output.Root, Is.Not.SameAs(plan.Input));
        Assert.That(affine[1].Output.Root, Is.SameAs(affine[1].Input.Root));
        Assert.That(affine[2].Output.Root, Is.SameAs(affine[2].Input.Root));
        // conv1's ReLU still fuses (conv2 and the sum both read the result).
        Assert.That(plan.Steps.OfType<ConvStep>().Single(c => c.Layer == "conv1").FusedLayers, Is.EqualTo(new[] { "conv1", "relu1" }));
        var sum = plan.Steps.OfType<EltwiseStep>().Single();
        Assert.That(sum.Mode, Is.EqualTo(EltwiseMode.Sum));
        Assert.That(sum.Output.Root, Is.SameAs(sum.Inputs[0].Root), "in place over conv2, its last use");
        Assert.That(LayerTiming.OpOf(affine[1]), Is.EqualTo("BatchNorm+Scale+ReLU"));
        Assert.That(LayerTiming.OpOf(sum), Is.EqualTo("EltwiseSum"));
    }

    [Test]
    public void BatchNormAfterAConvolutionStillFoldsUnlessTheConvolutionOutputIsKept()
    {
        var (d, t) = Tiny();
        // Move the BatchNorm + Scale straight after conv2 (before the sum): they fold into conv2.
        var layers = d.Layers.ToList();
        var bn = (BatchNormLayer)layers.Single(l => l.Name == "bn");
        var scale = (ScaleLayer)layers.Single(l => l.Name == "scale");
        layers.RemoveAll(l => l.Name is "bn" or "scale" or "relu2");
        layers.Insert(layers.FindIndex(l => l.Name == "conv2") + 1, bn with { Inputs = ["conv2"], Outputs = ["conv2"] });
        layers.Insert(layers.FindIndex(l => l.Name == "bn") + 1, scale with { Inputs = ["conv2"], Outputs = ["conv2"] });
        var moved = d with
        {
            Layers = [.. layers.Select(l => l is ScaleLayer { Name: "wide" } w ? w with { Inputs = ["sum"], Outputs = ["sum"] }
                : l is ConvolutionLayer { Name: "loc" or "conf" } c ? c with { Inputs = ["sum"] } : l)],
            Priors = d.Priors with { Maps = [d.Priors.Maps[0] with { Source = "sum" }] },
        };
        var plan = PlanBuilder.Build(moved, t, W, H);
        Assert.That(plan.Steps.OfType<ConvStep>().Single(c => c.Layer == "conv2").FusedLayers, Is.EqualTo(new[] { "conv2", "bn", "scale" }));
        Assert.That(plan.Steps.OfType<AffineStep>().Select(a => a.Layer), Is.EqualTo(new[] { "data_bn", "wide" }));
    }

    private static IEnumerable<TestCaseData> Cases() =>
        from backend in BackendNames
        from op in new[] { (EltwiseOperation.Sum, Array.Empty<float>()), (EltwiseOperation.Sum, new[] { 0.5f, -2f }), (EltwiseOperation.Prod, []), (EltwiseOperation.Max, []) }
        select new TestCaseData(backend, op.Item1, op.Item2).SetArgDisplayNames(backend, op.Item1.ToString(), string.Join(",", op.Item2));

    [TestCaseSource(nameof(Cases))]
    public void NetworkEqualsLayerByLayerReferences(string backendName, EltwiseOperation op, float[] coefficients)
    {
        var (d, t) = Tiny(op, coefficients);
        const int batch = 2;
        var x = TestData.Uniform(21, batch * 3 * H * W, 0f, 255f);
        using var backend = Backend(backendName);
        using var net = SsdNetwork.Load(d, t, backend, batch: batch, capture: ["bn"]);
        var output = net.Forward(x, capture: ["bn"]);

        float[] F(string n) => t[n].ToFloat32();
        var data = new float[x.Length];
        var g3 = new ChannelGeometry(batch, 3, H * W);
        BatchNormReference.Forward(g3, x, F("data_bn.mean"), F("data_bn.variance"), 1e-5f, data);
        ScaleReference.Forward(g3, data, F("data_scale.scale"), F("data_scale.bias"), data);
        var conv1 = Conv(data, 3, "conv1", t, relu: true);
        var conv2 = Conv(conv1, C, "conv2", t, relu: false);
        var sum = new float[conv1.Length];
        EltwiseReference.Forward(op switch { EltwiseOperation.Sum => EltwiseMode.Sum, EltwiseOperation.Prod => EltwiseMode.Product, _ => EltwiseMode.Max },
            [conv2, conv1], coefficients, sum);
        var g = new ChannelGeometry(batch, C, H * W);
        BatchNormReference.Forward(g, sum, F("bn.mean"), F("bn.variance"), 1e-5f, sum);
        ScaleReference.Forward(g, sum, F("scale.scale"), F("scale.bias"), sum);
        ReluReference.Forward(sum, sum);
        ScaleReference.Forward(new ChannelGeometry(batch, C * H * W, 1), sum, F("wide.scale"), [], sum);
        AssertRelative($"bn on {backendName}", output.Captured["bn"], sum, 1e-5);

        var loc = Conv(sum, C, "loc", t, relu: false);
        var nhwc = new float[loc.Length];
        for (int n = 0; n < batch; n++)
            for (int c = 0; c < 4; c++)
                for (int i = 0; i < H * W; i++) nhwc[(n * H * W + i) * 4 + c] = loc[(n * 4 + c) * H * W + i];
        AssertRelative($"loc on {backendName}", output.Loc, nhwc, 1e-5);
    }

    private static float[] Conv(float[] x, int inC, string name, Dictionary<string, TensorData> t, bool relu)
    {
        int batch = x.Length / (inC * H * W), outC = t[$"{name}.weight"].Shape[0];
        bool bias = t.ContainsKey($"{name}.bias");
        var y = new float[batch * outC * H * W];
        Conv2dReference.Forward(x, new TensorShape(batch, inC, H, W), t[$"{name}.weight"].ToFloat32(), bias ? t[$"{name}.bias"].ToFloat32() : [],
            Conv2dParams.Square(3, pad: 1, hasBias: bias, fuseRelu: relu), outC, y);
        return y;
    }
}
