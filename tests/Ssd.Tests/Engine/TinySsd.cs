using Ssd.Weights.Model;
using Ssd.Weights.Tensors;

namespace Ssd.Tests.Engine;

/// <summary>
/// A tiny fully convolutional Caffe-flavour SSD with seeded random weights, for tests of the engine's plumbing (one
/// device, the network cache, training plans, weight updates): conv 3x3 (no padding) + ReLU, max pool 2x2 (ceil),
/// conv 3x3 + ReLU as the one prior source, L2Norm on it, then loc / conf heads, permute, flatten, softmax. Any input
/// of at least 6x6 runs; smaller ones have no output for the second conv.
/// </summary>
public static class TinySsd
{
    public const int Classes = 3;

    /// <param name="batchNorm">Adds BatchNorm and Scale between conv1 and its ReLU (folded into conv1 for inference).</param>
    public static (ModelDescription Model, Dictionary<string, TensorData> Tensors) Create(int width = 24, int height = 20, int seed = 1, bool batchNorm = false)
    {
        var t = new Dictionary<string, TensorData>();
        void Add(string name, int[] shape, float lo, float hi)
        {
            long n = shape.Aggregate(1L, (a, b) => a * b);
            var values = TestData.Uniform(seed + t.Count, n, lo, hi);
            t[name] = new TensorData(name, shape, TensorDType.Float32, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        }
        Add("conv1.weight", [8, 3, 3, 3], -0.05f, 0.05f);
        Add("conv1.bias", [8], -0.1f, 0.1f);
        if (batchNorm)
        {
            Add("bn.mean", [8], -0.1f, 0.1f);
            Add("bn.variance", [8], 0.5f, 2f);
            Add("scale.weight", [8], 0.5f, 1.5f);
            Add("scale.bias", [8], -0.2f, 0.2f);
        }
        Add("conv2.weight", [12, 8, 3, 3], -0.2f, 0.2f);
        Add("conv2.bias", [12], -0.1f, 0.1f);
        Add("norm.scale", [12], 5f, 20f);
        Add("loc.weight", [2 * 4, 12, 3, 3], -0.2f, 0.2f);
        Add("loc.bias", [2 * 4], -0.1f, 0.1f);
        Add("conf.weight", [2 * Classes, 12, 3, 3], -0.3f, 0.3f);
        Add("conf.bias", [2 * Classes], -0.1f, 0.1f);
        LayerSpec Conv(string name, string input, int inC, int outC, int pad) => new ConvolutionLayer
        {
            Name = name, Inputs = [input], Outputs = [name], InChannels = inC, OutChannels = outC, KernelH = 3, KernelW = 3,
            PadH = pad, PadW = pad, Weight = $"{name}.weight", Bias = $"{name}.bias",
        };
        LayerSpec[] layers =
        [
            Conv("conv1", "data", 3, 8, 0),
            .. (batchNorm
                ? new LayerSpec[]
                {
                    new BatchNormLayer { Name = "bn", Inputs = ["conv1"], Outputs = ["conv1"], Channels = 8, Eps = 1e-5f, Mean = "bn.mean", Variance = "bn.variance" },
                    new ScaleLayer { Name = "scale", Inputs = ["conv1"], Outputs = ["conv1"], Channels = 8, Scale = "scale.weight", Bias = "scale.bias" },
                }
                : []),
            new ReluLayer { Name = "relu1", Inputs = ["conv1"], Outputs = ["conv1"] },
            new PoolingLayer { Name = "pool1", Inputs = ["conv1"], Outputs = ["pool1"], Method = PoolMethod.Max, KernelH = 2, KernelW = 2, StrideH = 2, StrideW = 2, Rounding = PoolRounding.Ceil },
            Conv("conv2", "pool1", 8, 12, 0),
            new ReluLayer { Name = "relu2", Inputs = ["conv2"], Outputs = ["conv2"] },
            new NormalizeLayer { Name = "norm", Inputs = ["conv2"], Outputs = ["norm"], Eps = 1e-10f, EpsMode = NormEps.InsideSqrt, Channels = 12, Scale = "norm.scale" },
            Conv("loc", "norm", 12, 2 * 4, 1),
            new PermuteLayer { Name = "loc_perm", Inputs = ["loc"], Outputs = ["loc_perm"], Order = [0, 2, 3, 1] },
            new FlattenLayer { Name = "loc_flat", Inputs = ["loc_perm"], Outputs = ["loc_flat"] },
            Conv("conf", "norm", 12, 2 * Classes, 1),
            new PermuteLayer { Name = "conf_perm", Inputs = ["conf"], Outputs = ["conf_perm"], Order = [0, 2, 3, 1] },
            new ReshapeLayer { Name = "conf_reshape", Inputs = ["conf_perm"], Outputs = ["conf_reshape"], Dims = [0, -1, Classes] },
            new SoftmaxLayer { Name = "conf_softmax", Inputs = ["conf_reshape"], Outputs = ["conf_softmax"], Axis = 2 },
            new FlattenLayer { Name = "conf_flat", Inputs = ["conf_softmax"], Outputs = ["conf_flat"] },
        ];
        var model = new ModelDescription
        {
            Name = "tiny-ssd", Flavor = ModelFlavor.Caffe,
            Input = new InputSpec { Width = width, Height = height, ChannelOrder = ChannelOrder.Bgr, Mean = [104f, 117f, 123f], Std = [1f, 1f, 1f], PixelRange = PixelRange.Byte, Resize = ResizeMethod.OpenCvLinear },
            Layers = layers,
            Outputs = new OutputSpec { Loc = "loc_flat", Conf = "conf_flat" },
            Priors = new PriorConfig
            {
                Style = ModelFlavor.Caffe,
                Maps = [new PriorSpec { Source = "norm", MinSizes = [6f], AspectRatios = [2f], Flip = false, Clip = false }], // 2 boxes a cell
            },
            PostProcess = new PostProcessSpec { Style = ModelFlavor.Caffe, NumClasses = Classes, ConfidenceThreshold = 0.2f, NmsThreshold = 0.45f, TopK = 50, KeepTopK = 20 },
        };
        return (model, t);
    }

    /// <summary>A seeded random RGB image.</summary>
    public static Ssd.Engine.Imaging.RgbImage Image(int width, int height, int seed)
    {
        var pixels = new byte[width * height * 3];
        new Random(seed).NextBytes(pixels);
        return new Ssd.Engine.Imaging.RgbImage(width, height, pixels);
    }
}
