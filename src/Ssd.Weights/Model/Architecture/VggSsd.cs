namespace Ssd.Weights.Model.Architecture;

/// <summary>
/// SSD300 and SSD512 on VGG-16 (Liu et al. 2016), in the words of the paper: the base network VGG-16 to conv5_3 with
/// pool5 3x3/1/1, fc6 dilated 6 and fc7 1x1; conv4_3's L2Norm and fc7 as the first two sources; extra layers
/// (conv6..conv9, conv10 for SSD512), each a 1x1 then a 3x3 (SSD512's last a 4x4) convolution whose output is a
/// source; multibox heads on every source; and the prior grid. Each flavour names the layers as its checkpoints do
/// (the module path in ssd.pytorch's and torchvision's nn.Sequential containers, weiliu89's layer names for Caffe),
/// which is all that distinguishes their graphs besides the pooling rounding and the L2Norm's epsilon. The
/// converters (<see cref="TorchConverter"/>) build from a checkpoint's tensors; <see cref="Create"/> builds an
/// untrained model for training from scratch.
/// </summary>
public static class VggSsd
{
    /// <summary>VGG-16 configuration 'D' to conv5_3: convolutions per block and their channels.</summary>
    private static readonly (int Convs, int Channels)[] Blocks = [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)];

    /// <summary>The extra layers: 1x1 channels, then the source's channels, kernel, stride and padding.</summary>
    private static (int Mid, int Out, int Kernel, int Stride, int Pad)[] Extras(int size) => size == 512
        ? [(256, 512, 3, 2, 1), (128, 256, 3, 2, 1), (128, 256, 3, 2, 1), (128, 256, 3, 2, 1), (128, 256, 4, 1, 1)]
        : [(256, 512, 3, 2, 1), (128, 256, 3, 2, 1), (128, 256, 3, 1, 0), (128, 256, 3, 1, 0)];

    /// <summary>Default boxes per cell on each source (4 for one extra aspect ratio, 6 for two).</summary>
    public static int[] BoxesPerSource(int size) => size == 512 ? [4, 6, 6, 6, 6, 4, 4] : [4, 6, 6, 6, 4, 4];

    /// <summary>What <paramref name="flavor"/> calls the layer with canonical (weiliu89's) name <paramref name="canonical"/>
    /// ("conv1_1" is torchvision's "backbone.features.0", ssd.pytorch's "vgg.0", Caffe's "conv1_1").</summary>
    public static string LayerName(ModelFlavor flavor, string canonical) => Naming.For(flavor)[canonical];

    /// <summary>The extra layers SSD300 (4) and SSD512 (5) have.</summary>
    public static int ExtraLayers(int size) => Extras(size).Length;

    /// <summary>
    /// Builds the graph (backbone, L2Norm, extras, heads) of an SSD300 or SSD512 in <paramref name="flavor"/>'s layout
    /// into a builder over <paramref name="tensors"/>, channels divided by <paramref name="widthDivisor"/> where the
    /// source does not give them. Returns the builder (its sources in prior order) and the class count.
    /// </summary>
    public static (SsdBuilder Builder, int NumClasses) Graph(ModelFlavor flavor, int size, ITensorSource tensors, int numClasses = 0, int widthDivisor = 1)
    {
        if (size is not (300 or 512)) throw new ArgumentException($"VGG-16 SSD is SSD300 or SSD512, not {size}");
        if (widthDivisor < 1) throw new ArgumentException($"width divisor {widthDivisor} must be at least 1");
        int W(int channels) => Math.Max(1, channels / widthDivisor);
        var naming = Naming.For(flavor);
        var b = new SsdBuilder(tensors);

        // Base network: five VGG blocks (the third pool rounds up in the torch flavours; Caffe's pools always do).
        string x = b.Input;
        for (int block = 1; block <= Blocks.Length; block++)
        {
            for (int i = 1; i <= Blocks[block - 1].Convs; i++)
                x = b.Relu(naming[$"relu{block}_{i}"], b.Conv(naming[$"conv{block}_{i}"], x, W(Blocks[block - 1].Channels), 3, 1, 1));
            if (block == 4) b.Source(b.L2Norm(naming["conv4_3_norm"], x, naming.NormScale, naming.NormEps, naming.NormMode));
            if (block < 5) x = b.MaxPool(naming[$"pool{block}"], x, 2, 2, 0, flavor == ModelFlavor.Caffe || block == 3 ? PoolRounding.Ceil : PoolRounding.Floor);
        }
        x = b.MaxPool(naming["pool5"], x, 3, 1, 1, flavor == ModelFlavor.Caffe ? PoolRounding.Ceil : PoolRounding.Floor);
        x = b.Relu(naming["relu6"], b.Conv(naming["fc6"], x, W(1024), 3, 1, 6, 6));
        x = b.Source(b.Relu(naming["relu7"], b.Conv(naming["fc7"], x, W(1024), 1)));

        // Extra feature layers, each ending in a source.
        var extras = Extras(size);
        for (int e = 0; e < extras.Length; e++)
        {
            var (mid, output, k, stride, pad) = extras[e];
            int n = e + 6;
            x = b.ExtraLayer((naming[$"conv{n}_1"], naming[$"relu{n}_1"]), (naming[$"conv{n}_2"], naming[$"relu{n}_2"]), x, W(mid), W(output), k, stride, pad);
        }

        int classes = b.MultiboxHeads(naming.Loc, naming.Conf, BoxesPerSource(size), numClasses);
        return (b, classes);
    }

    /// <summary>
    /// An untrained SSD300 or SSD512-VGG16 in a flavour's semantics (its layout, pre-processing, priors and
    /// post-processing) for <paramref name="numClasses"/> classes (the background included), channels divided by
    /// <paramref name="widthDivisor"/>: the description and correctly shaped float32 tensors, zeros unless
    /// <paramref name="initialise"/> fills them (given each tensor's name, shape and part of the SSD).
    /// </summary>
    public static ConversionResult Create(ModelFlavor flavor, int size, int numClasses, int widthDivisor = 1,
        Action<string, int[], SsdPart, float[]>? initialise = null, ConversionOptions? options = null)
    {
        if (numClasses < 2) throw new ArgumentException($"an SSD needs at least 2 classes (the background and one object), not {numClasses}");
        var source = new InitialiserSource(initialise);
        options ??= new ConversionOptions();
        return flavor switch
        {
            ModelFlavor.SsdPytorch => TorchConverter.ConvertSsdPytorch(source, size, numClasses, widthDivisor, options),
            ModelFlavor.Torchvision => TorchConverter.ConvertTorchvision(source, size, numClasses, widthDivisor, options),
            _ => Caffe(source, size, numClasses, widthDivisor, options),
        };
    }

    /// <summary>weiliu89's ssd_pascal.py / ssd_pascal_512.py: BGR minus (104, 117, 123), PriorBox sizes, DetectionOutput.</summary>
    private static ConversionResult Caffe(ITensorSource source, int size, int numClasses, int widthDivisor, ConversionOptions options)
    {
        var (b, classes) = Graph(ModelFlavor.Caffe, size, source, numClasses, widthDivisor);
        float[] min = size == 512 ? [35.84f, 76.8f, 153.6f, 230.4f, 307.2f, 384f, 460.8f] : [30, 60, 111, 162, 213, 264];
        float[] max = size == 512 ? [76.8f, 153.6f, 230.4f, 307.2f, 384f, 460.8f, 537.6f] : [60, 111, 162, 213, 264, 315];
        float[] steps = size == 512 ? [8, 16, 32, 64, 128, 256, 512] : [8, 16, 32, 64, 100, 300];
        var boxes = BoxesPerSource(size);
        var priors = b.PriorGrid(ModelFlavor.Caffe, (i, src) => new PriorSpec
        {
            Source = src, MinSizes = [min[i]], MaxSizes = [max[i]], AspectRatios = boxes[i] == 6 ? [2, 3] : [2], Flip = true, Clip = false,
            StepWidth = steps[i], StepHeight = steps[i],
        });
        int w = options.InputSize?.Width ?? size, h = options.InputSize?.Height ?? size;
        return b.Finish($"ssd{size}-vgg16-caffe", ModelFlavor.Caffe,
            new InputSpec
            {
                Width = w, Height = h, ChannelOrder = options.ChannelOrder ?? ChannelOrder.Bgr, Mean = options.Mean ?? [104f, 117f, 123f],
                Std = options.Std ?? [1f, 1f, 1f], PixelRange = PixelRange.Byte, Resize = ResizeMethod.OpenCvLinear,
            },
            priors,
            new PostProcessSpec
            {
                Style = ModelFlavor.Caffe, NumClasses = classes, BackgroundId = 0, ConfidenceThreshold = 0.01f, NmsThreshold = 0.45f, TopK = 400, KeepTopK = 200,
                ClassNames = ClassNames.Resolve(options.ClassNames, classes, 0, classes == 21 ? ClassNames.Voc : null),
            },
            $"Caffe SSD{size}");
    }

    /// <summary>
    /// What a flavour calls each layer: canonical names (weiliu89's: conv1_1, relu1_1, pool1, ..., fc6, relu6, fc7,
    /// conv6_1, ..., conv4_3_norm) mapped to the layer / module names of its checkpoints.
    /// </summary>
    private sealed class Naming
    {
        private readonly Dictionary<string, string> names = [];
        private Func<int, string> loc = null!, conf = null!;

        public string this[string canonical] => names.TryGetValue(canonical, out var n) ? n : canonical;
        public string NormScale { get; private init; } = "";
        public float NormEps { get; private init; }
        public NormEps NormMode { get; private init; }
        public string Loc(int source) => loc(source);
        public string Conf(int source) => conf(source);

        /// <summary>The base network's layers in order (as VGG's nn.Sequential holds them), fc7's ReLU last.</summary>
        private static IEnumerable<string> BaseLayers()
        {
            for (int block = 1; block <= Blocks.Length; block++)
            {
                for (int i = 1; i <= Blocks[block - 1].Convs; i++) { yield return $"conv{block}_{i}"; yield return $"relu{block}_{i}"; }
                yield return $"pool{block}";
            }
            yield return "fc6"; yield return "relu6"; yield return "fc7"; yield return "relu7";
        }

        private static IEnumerable<string> ExtraLayerNames(int count)
        {
            for (int e = 0; e < count; e++)
                foreach (var part in new[] { "conv{0}_1", "relu{0}_1", "conv{0}_2", "relu{0}_2" }) yield return string.Format(part, e + 6);
        }

        public static Naming For(ModelFlavor flavor) => flavor switch
        {
            ModelFlavor.SsdPytorch => SsdPytorch(),
            ModelFlavor.Torchvision => Torchvision(),
            _ => Caffe(),
        };

        /// <summary>ssd.pytorch (amdegroot): vgg.N is the base network's position in its Sequential, extras.K the K-th extra
        /// convolution (their ReLUs are functional: named extras.K.relu here), loc.I / conf.I the heads.</summary>
        private static Naming SsdPytorch()
        {
            var n = new Naming { NormScale = "L2Norm.weight", NormEps = 1e-10f, NormMode = Model.NormEps.OutsideSqrt };
            int at = 0;
            foreach (var layer in BaseLayers()) n.names[layer] = $"vgg.{at++}";
            int k = 0;
            foreach (var layer in ExtraLayerNames(5))
                n.names[layer] = layer.StartsWith("conv") ? $"extras.{k++}" : $"extras.{k - 1}.relu";
            n.names["conv4_3_norm"] = "L2Norm";
            (n.loc, n.conf) = (i => $"loc.{i}", i => $"conf.{i}");
            return n;
        }

        /// <summary>torchvision ssd300_vgg16: backbone.features holds VGG to relu4_3; backbone.extra.0 holds pool4, conv5_x
        /// and (at .7) pool5, fc6 and fc7; backbone.extra.K (K &gt;= 1) the K-th extra layer; the heads' module lists.</summary>
        private static Naming Torchvision()
        {
            var n = new Naming { NormScale = "backbone.scale_weight", NormEps = 1e-12f, NormMode = Model.NormEps.ClampMin };
            var layers = BaseLayers().ToList();
            int pool4 = layers.IndexOf("pool4"), pool5 = layers.IndexOf("pool5");
            for (int i = 0; i < layers.Count; i++)
                n.names[layers[i]] = i < pool4 ? $"backbone.features.{i}" : i < pool5 ? $"backbone.extra.0.{i - pool4}" : $"backbone.extra.0.7.{i - pool5}";
            var extras = ExtraLayerNames(5).ToList();
            for (int i = 0; i < extras.Count; i++) n.names[extras[i]] = $"backbone.extra.{i / 4 + 1}.{i % 4}";
            n.names["conv4_3_norm"] = "backbone.scale_weight";
            (n.loc, n.conf) = (i => $"head.regression_head.module_list.{i}", i => $"head.classification_head.module_list.{i}");
            return n;
        }

        /// <summary>weiliu89 Caffe SSD: the canonical names; heads named after their source (conv4_3_norm_mbox_loc, ...).</summary>
        private static Naming Caffe()
        {
            var n = new Naming { NormScale = "conv4_3_norm.scale", NormEps = 1e-10f, NormMode = Model.NormEps.InsideSqrt };
            string[] sources = ["conv4_3_norm", "fc7", "conv6_2", "conv7_2", "conv8_2", "conv9_2", "conv10_2"];
            (n.loc, n.conf) = (i => $"{sources[i]}_mbox_loc", i => $"{sources[i]}_mbox_conf");
            return n;
        }
    }
}
