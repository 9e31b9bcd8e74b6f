using Ssd.Weights.Tensors;

namespace Ssd.Weights.Model;

/// <summary>
/// Converts PyTorch SSD300/SSD512 state dicts into the canonical description. The architecture is the reference
/// one of each project, built here in code; only channel counts come from the tensor shapes:
/// ssd.pytorch (amdegroot): keys vgg.N, L2Norm.weight, extras.N, loc.N, conf.N (a "module." prefix is stripped);
/// torchvision ssd300_vgg16: backbone.features.N, backbone.scale_weight, backbone.extra.N..., head.*_head.module_list.N.
/// Missing or unexpected keys give InvalidDataException listing them.
/// </summary>
public static class TorchConverter
{
    /// <summary>The flavour a state dict's key layout belongs to.</summary>
    public static ModelFlavor Detect(IReadOnlyDictionary<string, TensorData> state)
    {
        var keys = StripModulePrefix(state).Keys;
        if (keys.Any(k => k.StartsWith("vgg.")) && keys.Contains("L2Norm.weight")) return ModelFlavor.SsdPytorch;
        if (keys.Any(k => k.StartsWith("backbone.features.")) && keys.Any(k => k.StartsWith("head.classification_head."))) return ModelFlavor.Torchvision;
        throw new InvalidDataException("cannot tell the checkpoint flavour: expected ssd.pytorch keys (vgg.N, L2Norm.weight, ...) or torchvision ssd300_vgg16 keys (backbone.features.N, head.classification_head...); first keys: "
            + string.Join(", ", keys.Take(5)));
    }

    public static ConversionResult Convert(IReadOnlyDictionary<string, TensorData> state, ModelFlavor? flavor = null, ConversionOptions? options = null)
    {
        var s = StripModulePrefix(state);
        return (flavor ?? Detect(s)) switch
        {
            ModelFlavor.SsdPytorch => ConvertSsdPytorch(s, options ?? new()),
            ModelFlavor.Torchvision => ConvertTorchvision(s, options ?? new()),
            var f => throw new ArgumentException($"flavour {f} is not a PyTorch layout"),
        };
    }

    private static IReadOnlyDictionary<string, TensorData> StripModulePrefix(IReadOnlyDictionary<string, TensorData> s) =>
        s.Count > 0 && s.Keys.All(k => k.StartsWith("module.")) ? s.ToDictionary(kv => kv.Key["module.".Length..], kv => kv.Value) : s;

    // VGG16 'D' configuration up to conv5_3: channels, or 0 for a 2x2 max pool. Index i of the list is not the
    // module index; modules are counted as Sequential builds them (conv, relu / pool).
    private static readonly int[] Vgg16 = [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512];

    private static ConversionResult ConvertSsdPytorch(IReadOnlyDictionary<string, TensorData> s, ConversionOptions options)
    {
        var g = new GraphBuilder(s);
        int extras = CountIndexed(s, "extras."), heads = CountIndexed(s, "loc.");
        bool ssd512 = extras == 10;
        if (extras is not (8 or 10) || heads != (ssd512 ? 7 : 6))
            throw new InvalidDataException($"ssd.pytorch checkpoint with {extras} extra layers and {heads} heads: expected 8 and 6 (SSD300) or 10 and 7 (SSD512)");
        int size = ssd512 ? 512 : 300;

        // vgg: features with the third pool in ceil mode, then pool5 3x3/1/1, conv6 (dilation 6) and conv7.
        string x = "data";
        int m = 0, pools = 0;
        var sources = new List<string>();
        foreach (var c in Vgg16)
        {
            if (c == 0) { x = g.MaxPool($"vgg.{m}", x, 2, 2, 0, ++pools == 3 ? PoolRounding.Ceil : PoolRounding.Floor); m++; continue; }
            x = g.Conv($"vgg.{m}", x, 3, 1, 1); x = g.Relu($"vgg.{m + 1}", x); m += 2;
            if (m == 23) sources.Add(g.Normalize("L2Norm", x, "L2Norm.weight", 1e-10f, NormEps.OutsideSqrt));
        }
        x = g.MaxPool($"vgg.{m++}", x, 3, 1, 1, PoolRounding.Floor);
        x = g.Relu($"vgg.{m + 1}", g.Conv($"vgg.{m}", x, 3, 1, 6, 6)); m += 2;
        x = g.Relu($"vgg.{m + 1}", g.Conv($"vgg.{m}", x, 1, 1, 0)); m += 2;
        sources.Add(x);
        g.ExpectAbsent($"vgg.{m}.weight");

        // extras alternate 1x1 and 3x3; in SSD300 the first two 3x3 have stride 2, in SSD512 all but the last
        // (a 4x4, padding 1) do. Every extra is followed by ReLU; the odd ones are sources.
        for (int k = 0; k < extras; k++)
        {
            var key = $"extras.{k}";
            int kernel = g.Kernel(key);
            bool strided = k % 2 == 1 && (ssd512 ? k < extras - 1 : k < 4);
            int pad = kernel == 1 ? 0 : strided || kernel == 4 ? 1 : 0;
            x = g.Relu($"{key}.relu", g.Conv(key, x, kernel, strided ? 2 : 1, pad));
            if (k % 2 == 1) sources.Add(x);
        }

        int numClasses = g.Heads(sources, i => $"loc.{i}", i => $"conf.{i}");
        var known = numClasses == 21 ? ClassNames.Voc : null;
        var priors = SsdPytorchPriors(ssd512, numClasses, sources);
        return g.Finish(options, ModelFlavor.SsdPytorch, $"ssd{size}-pytorch", size,
            new InputSpec
            {
                Width = size, Height = size, ChannelOrder = options.ChannelOrder ?? ChannelOrder.Rgb,
                // ssd.pytorch subtracts (104, 117, 123) from the BGR image and then swaps to RGB.
                Mean = options.Mean ?? [123f, 117f, 104f], Std = options.Std ?? [1f, 1f, 1f], PixelRange = PixelRange.Byte, Resize = ResizeMethod.OpenCvLinear,
            },
            priors,
            new PostProcessSpec
            {
                Style = ModelFlavor.SsdPytorch, NumClasses = numClasses, BackgroundId = 0, ConfidenceThreshold = 0.01f, NmsThreshold = 0.45f,
                TopK = 200, KeepTopK = 0, ClassNames = ClassNames.Resolve(options.ClassNames, numClasses, 0, known),
            });
    }

    private static PriorConfig SsdPytorchPriors(bool ssd512, int numClasses, List<string> sources)
    {
        // The 'voc' and 'coco' configurations of ssd.pytorch's data/config.py; SSD512 uses the Caffe SSD512 ones.
        bool coco = numClasses is 81 or 91 or 201;
        float[] min, max, steps;
        float[][] ars;
        if (!ssd512)
        {
            min = coco ? [21, 45, 99, 153, 207, 261] : [30, 60, 111, 162, 213, 264];
            max = coco ? [45, 99, 153, 207, 261, 315] : [60, 111, 162, 213, 264, 315];
            steps = [8, 16, 32, 64, 100, 300];
            ars = [[2], [2, 3], [2, 3], [2, 3], [2], [2]];
        }
        else
        {
            min = coco ? [20.48f, 51.2f, 133.12f, 215.04f, 296.96f, 378.88f, 460.8f] : [35.84f, 76.8f, 153.6f, 230.4f, 307.2f, 384.0f, 460.8f];
            max = coco ? [51.2f, 133.12f, 215.04f, 296.96f, 378.88f, 460.8f, 542.72f] : [76.8f, 153.6f, 230.4f, 307.2f, 384.0f, 460.8f, 537.6f];
            steps = [8, 16, 32, 64, 128, 256, 512];
            ars = [[2], [2, 3], [2, 3], [2, 3], [2, 3], [2], [2]];
        }
        return new PriorConfig
        {
            Style = ModelFlavor.SsdPytorch,
            Maps = sources.Select((src, i) => new PriorSpec
            {
                Source = src, MinSizes = [min[i]], MaxSizes = [max[i]], AspectRatios = ars[i], Flip = true, Clip = true,
                StepWidth = steps[i], StepHeight = steps[i],
            }).ToArray(),
        };
    }

    private static ConversionResult ConvertTorchvision(IReadOnlyDictionary<string, TensorData> s, ConversionOptions options)
    {
        var g = new GraphBuilder(s);
        int extras = CountIndexed(s, "backbone.extra."), heads = CountIndexed(s, "head.regression_head.module_list.");
        if (extras != 5 || heads != 6)
            throw new InvalidDataException($"torchvision checkpoint with {extras} extra blocks and {heads} heads: only ssd300_vgg16 (5 and 6) is supported");

        // backbone.features = vgg16.features[:23] (through conv4_3 + ReLU; the third pool in ceil mode).
        string x = "data";
        int m = 0, pools = 0;
        var sources = new List<string>();
        foreach (var c in Vgg16[..13])
        {
            if (c == 0) { x = g.MaxPool($"backbone.features.{m}", x, 2, 2, 0, ++pools == 3 ? PoolRounding.Ceil : PoolRounding.Floor); m++; continue; }
            x = g.Relu($"backbone.features.{m + 1}", g.Conv($"backbone.features.{m}", x, 3, 1, 1)); m += 2;
        }
        g.ExpectAbsent($"backbone.features.{m}.weight");
        sources.Add(g.Normalize("backbone.scale_weight", x, "backbone.scale_weight", 1e-12f, NormEps.ClampMin));

        // extra.0 = pool4, conv5_1..5_3 (+ReLU), then fc: pool5 3x3/1/1, fc6 (dilation 6) + ReLU, fc7 + ReLU.
        const string e0 = "backbone.extra.0";
        x = g.MaxPool($"{e0}.0", x, 2, 2, 0, PoolRounding.Floor);
        for (int i = 1; i <= 5; i += 2) x = g.Relu($"{e0}.{i + 1}", g.Conv($"{e0}.{i}", x, 3, 1, 1));
        x = g.MaxPool($"{e0}.7.0", x, 3, 1, 1, PoolRounding.Floor);
        x = g.Relu($"{e0}.7.2", g.Conv($"{e0}.7.1", x, 3, 1, 6, 6));
        x = g.Relu($"{e0}.7.4", g.Conv($"{e0}.7.3", x, 1, 1, 0));
        sources.Add(x);
        // extra.1..4: 1x1 then 3x3 (stride 2, pad 1 for the first two; valid for the last two).
        for (int k = 1; k <= 4; k++)
        {
            x = g.Relu($"backbone.extra.{k}.1", g.Conv($"backbone.extra.{k}.0", x, 1, 1, 0));
            x = g.Relu($"backbone.extra.{k}.3", g.Conv($"backbone.extra.{k}.2", x, 3, k <= 2 ? 2 : 1, k <= 2 ? 1 : 0));
            sources.Add(x);
        }

        int numClasses = g.Heads(sources, i => $"head.regression_head.module_list.{i}", i => $"head.classification_head.module_list.{i}");
        float[] scales = [0.07f, 0.15f, 0.33f, 0.51f, 0.69f, 0.87f, 1.05f];
        float[] steps = [8, 16, 32, 64, 100, 300];
        float[][] ars = [[2], [2, 3], [2, 3], [2, 3], [2], [2]];
        var priors = new PriorConfig
        {
            Style = ModelFlavor.Torchvision,
            Maps = sources.Select((src, i) => new PriorSpec
            {
                Source = src, MinSizes = [scales[i] * 300], MaxSizes = [scales[i + 1] * 300], AspectRatios = ars[i], Flip = true, Clip = true,
                StepWidth = steps[i], StepHeight = steps[i],
            }).ToArray(),
        };
        return g.Finish(options, ModelFlavor.Torchvision, "ssd300-vgg16-torchvision", 300,
            new InputSpec
            {
                Width = 300, Height = 300, ChannelOrder = options.ChannelOrder ?? ChannelOrder.Rgb,
                Mean = options.Mean ?? [0.48235f, 0.45882f, 0.40784f], Std = options.Std ?? [1f / 255, 1f / 255, 1f / 255],
                PixelRange = PixelRange.Unit, Resize = ResizeMethod.TorchBilinear,
            },
            priors,
            new PostProcessSpec
            {
                // box_coder weights (10, 10, 5, 5) are variances (0.1, 0.1, 0.2, 0.2).
                Style = ModelFlavor.Torchvision, NumClasses = numClasses, BackgroundId = 0, ConfidenceThreshold = 0.01f, NmsThreshold = 0.45f,
                TopK = 400, KeepTopK = 200, ClassNames = ClassNames.Resolve(options.ClassNames, numClasses, 0, numClasses == 91 ? ClassNames.TorchvisionCoco : null),
            });
    }

    private static int CountIndexed(IReadOnlyDictionary<string, TensorData> s, string prefix)
    {
        var idx = s.Keys.Where(k => k.StartsWith(prefix)).Select(k => k[prefix.Length..].Split('.')[0]).Distinct()
            .Select(t => int.TryParse(t, out var v) ? v : -1).ToList();
        if (idx.Count == 0) return 0;
        if (idx.Contains(-1) || idx.Max() != idx.Count - 1) throw new InvalidDataException($"keys under '{prefix}' are not numbered 0..N-1: {string.Join(",", idx.Order())}");
        return idx.Count;
    }

    /// <summary>Builds the layer list, taking each weight from the state dict and tracking the blob channels.</summary>
    private sealed class GraphBuilder(IReadOnlyDictionary<string, TensorData> state)
    {
        private readonly List<LayerSpec> layers = [];
        private readonly Dictionary<string, TensorData> tensors = [];
        private readonly List<string> warnings = [];
        private readonly Dictionary<string, int> channels = new() { ["data"] = 3 };
        private readonly HashSet<string> missing = [];

        private TensorData? Get(string key, int[] shape)
        {
            if (!state.TryGetValue(key, out var t)) { missing.Add(key); return null; }
            if (!t.Shape.SequenceEqual(shape))
                throw new InvalidDataException($"tensor '{key}' has shape {TensorChecks.Shape(t.Shape)}, expected {TensorChecks.Shape(shape)}");
            return tensors[key] = TensorChecks.AsFloat32(t, key, shape, warnings);
        }

        public int Kernel(string module) => state.TryGetValue($"{module}.weight", out var w) && w.Shape.Length == 4 ? w.Shape[2]
            : throw new InvalidDataException($"tensor '{module}.weight' is missing or not 4-D");

        public void ExpectAbsent(string key) { if (state.ContainsKey(key)) throw new InvalidDataException($"unexpected key '{key}' after the reference architecture"); }

        public string Conv(string module, string input, int kernel, int stride, int pad, int dilation = 1)
        {
            int inC = channels[input];
            int outC = state.TryGetValue($"{module}.weight", out var w) && w.Shape.Length == 4 ? w.Shape[0] : 1;
            var weight = Get($"{module}.weight", [outC, inC, kernel, kernel]);
            var bias = Get($"{module}.bias", [outC]);
            var output = module;
            layers.Add(new ConvolutionLayer
            {
                Name = module, Inputs = [input], Outputs = [output], InChannels = inC, OutChannels = outC, KernelH = kernel, KernelW = kernel,
                StrideH = stride, StrideW = stride, PadH = pad, PadW = pad, DilationH = dilation, DilationW = dilation,
                Weight = $"{module}.weight", Bias = $"{module}.bias",
            });
            _ = weight; _ = bias;
            channels[output] = outC;
            return output;
        }

        public string Relu(string name, string input) => Add(new ReluLayer { Name = name, Inputs = [input], Outputs = [name] }, channels[input]);

        public string MaxPool(string name, string input, int k, int stride, int pad, PoolRounding rounding) => Add(new PoolingLayer
        {
            Name = name, Inputs = [input], Outputs = [name], Method = PoolMethod.Max, KernelH = k, KernelW = k, StrideH = stride, StrideW = stride,
            PadH = pad, PadW = pad, Rounding = rounding,
        }, channels[input]);

        public string Normalize(string name, string input, string scaleKey, float eps, NormEps mode)
        {
            int c = channels[input];
            Get(scaleKey, [c]);
            return Add(new NormalizeLayer { Name = name, Inputs = [input], Outputs = [name], Eps = eps, EpsMode = mode, Channels = c, Scale = scaleKey }, c);
        }

        private string Add(LayerSpec layer, int outChannels)
        {
            layers.Add(layer);
            channels[layer.Outputs[0]] = outChannels;
            return layer.Outputs[0];
        }

        /// <summary>The loc and conf convolutions (3x3, pad 1) on every source, flattened NHWC and concatenated as
        /// Caffe SSD does, then softmax over classes. Returns the number of classes.</summary>
        public int Heads(List<string> sources, Func<int, string> loc, Func<int, string> conf)
        {
            var locs = new List<string>();
            var confs = new List<string>();
            int numClasses = -1;
            for (int i = 0; i < sources.Count; i++)
            {
                int boxOut = state.TryGetValue($"{loc(i)}.weight", out var lw) ? HeadOutputs(lw) : 4;
                int anchors = boxOut / 4;
                if (boxOut % 4 != 0 || anchors == 0) throw new InvalidDataException($"tensor '{loc(i)}.weight' has {boxOut} outputs, not a multiple of 4");
                int confOut = state.TryGetValue($"{conf(i)}.weight", out var cw) ? HeadOutputs(cw) : anchors * 2;
                if (confOut % anchors != 0) throw new InvalidDataException($"tensor '{conf(i)}.weight' has {confOut} outputs, not a multiple of {anchors} boxes");
                int k = confOut / anchors;
                if (numClasses != -1 && k != numClasses) throw new InvalidDataException($"head {i} predicts {k} classes, head 0 predicts {numClasses}");
                numClasses = k;
                locs.Add(Flat(Conv(loc(i), sources[i], 3, 1, 1)));
                confs.Add(Flat(Conv(conf(i), sources[i], 3, 1, 1)));
            }
            layers.Add(new ConcatLayer { Name = "mbox_loc", Inputs = [.. locs], Outputs = ["mbox_loc"], Axis = 1 });
            layers.Add(new ConcatLayer { Name = "mbox_conf", Inputs = [.. confs], Outputs = ["mbox_conf"], Axis = 1 });
            layers.Add(new ReshapeLayer { Name = "mbox_conf_reshape", Inputs = ["mbox_conf"], Outputs = ["mbox_conf_reshape"], Dims = [0, -1, numClasses] });
            layers.Add(new SoftmaxLayer { Name = "mbox_conf_softmax", Inputs = ["mbox_conf_reshape"], Outputs = ["mbox_conf_softmax"], Axis = 2 });
            layers.Add(new FlattenLayer { Name = "mbox_conf_flatten", Inputs = ["mbox_conf_softmax"], Outputs = ["mbox_conf_flatten"], Axis = 1 });
            return numClasses;
        }

        /// <summary>A head convolution's output channels; its weight must be [out, in, 3, 3].</summary>
        private static int HeadOutputs(TensorData w) => w.Shape.Length == 4 ? w.Shape[0]
            : throw new InvalidDataException($"tensor '{w.Name}' has shape {TensorChecks.Shape(w.Shape)}, expected a 4-D [out, in, 3, 3] head weight");

        private string Flat(string input)
        {
            layers.Add(new PermuteLayer { Name = $"{input}_perm", Inputs = [input], Outputs = [$"{input}_perm"], Order = [0, 2, 3, 1] });
            layers.Add(new FlattenLayer { Name = $"{input}_flat", Inputs = [$"{input}_perm"], Outputs = [$"{input}_flat"], Axis = 1 });
            return $"{input}_flat";
        }

        public ConversionResult Finish(ConversionOptions options, ModelFlavor flavor, string name, int size, InputSpec input, PriorConfig priors, PostProcessSpec post)
        {
            var unexpected = state.Keys.Where(k => !tensors.ContainsKey(k) && !k.EndsWith("num_batches_tracked")).Order().ToList();
            if (missing.Count > 0 || unexpected.Count > 0)
                throw new InvalidDataException($"{flavor} checkpoint does not match the reference SSD{size} layout:"
                    + (missing.Count > 0 ? $" missing keys: {string.Join(", ", missing.Order())}." : "")
                    + (unexpected.Count > 0 ? $" unexpected keys: {string.Join(", ", unexpected)}." : ""));
            if (options.InputSize is { } s && (s.Width != size || s.Height != size))
                warnings.Add($"input size {s.Width}x{s.Height} overrides the reference {size}x{size}; the priors assume {size}");
            if (options.InputSize is { } sz) input = input with { Width = sz.Width, Height = sz.Height };
            var description = new ModelDescription
            {
                Name = name, Flavor = flavor, Input = input, Layers = [.. layers],
                Outputs = new OutputSpec { Loc = "mbox_loc", Conf = "mbox_conf_flatten", ConfIsProbability = true },
                Priors = priors, PostProcess = post,
            };
            description.Validate(tensors.Keys);
            return new ConversionResult(description, tensors, warnings);
        }
    }
}
