using Ssd.Weights.Tensors;

namespace Ssd.Weights.Model.Architecture;

/// <summary>The part of an SSD a tensor belongs to, which decides how training from scratch initialises it.</summary>
public enum SsdPart
{
    /// <summary>The base network (VGG-16 to conv5_3, with pool5, fc6 and fc7).</summary>
    Backbone,
    /// <summary>The extra feature layers after the backbone.</summary>
    Extras,
    /// <summary>A multibox head: the 3x3 box-regression or classification convolution on a source.</summary>
    Head,
    /// <summary>conv4_3's learned L2Norm scale.</summary>
    L2NormScale,
}

/// <summary>
/// Where an <see cref="SsdBuilder"/>'s tensors come from: a checkpoint (the converters: every tensor must be there,
/// with its shape, and every tensor there must be used) or an initialiser (training from scratch: each tensor is made
/// with the shape the architecture gives it).
/// </summary>
public interface ITensorSource
{
    /// <summary>A convolution's output channels as the source has them (a checkpoint's weight), or null to take the architecture's.</summary>
    int? OutChannels(string weightKey);

    /// <summary>The float32 tensor <paramref name="key"/> of <paramref name="shape"/> (null when a checkpoint lacks it; it is then listed as missing).</summary>
    TensorData? Take(string key, int[] shape, SsdPart part);

    /// <summary>Problems found once every tensor was taken (a checkpoint's missing and unexpected keys), else empty.</summary>
    IReadOnlyList<string> Problems { get; }

    /// <summary>Conversion warnings (e.g. a tensor narrowed to float32).</summary>
    IReadOnlyList<string> Warnings { get; }
}

/// <summary>
/// The SSD vocabulary: a backbone whose named feature maps are the sources, extra layers, multibox heads on every
/// source and the prior grid over them, written as the canonical layer list (<see cref="ModelDescription"/>) plus its
/// tensors. Layers are named by their module (the checkpoint key prefix of their weights), so a converted model's
/// layers and blobs carry the checkpoint's names. <see cref="VggSsd"/> uses it for SSD300/SSD512 on VGG-16 in each
/// flavour's layout, for the converters and for training from scratch alike.
/// </summary>
public sealed class SsdBuilder
{
    private readonly ITensorSource source;
    private readonly List<LayerSpec> layers = [];
    private readonly Dictionary<string, TensorData> tensors = [];
    private readonly Dictionary<string, int> channels = [];
    private readonly List<string> sources = [];

    /// <summary>Starts a graph that reads the blob <paramref name="input"/>.</summary>
    /// <param name="source">Where the tensors come from: a checkpoint's (converting) or fresh ones of the declared shapes (from scratch).</param>
    /// <param name="input">The input blob's name.</param>
    /// <param name="inputChannels">The input's channels.</param>
    public SsdBuilder(ITensorSource source, string input = "data", int inputChannels = 3)
    {
        this.source = source;
        Input = input;
        channels[input] = inputChannels;
    }

    /// <summary>The input blob's name.</summary>
    public string Input { get; }

    /// <summary>The feature maps the multibox heads read, in prior order.</summary>
    public IReadOnlyList<string> Sources => sources;

    /// <summary>The channel count of a blob written so far.</summary>
    public int Channels(string blob) => channels[blob];

    // ---- Building blocks: each returns the blob it writes ----

    /// <summary>A convolution named <paramref name="module"/> (tensors module.weight, module.bias) of square kernel;
    /// output channels as the tensor source has them (a checkpoint of any width), else as given.</summary>
    public string Conv(string module, string input, int outChannels, int kernel, int stride = 1, int pad = 0, int dilation = 1, SsdPart part = SsdPart.Backbone)
    {
        int inC = channels[input];
        string weight = $"{module}.weight", bias = $"{module}.bias";
        int outC = source.OutChannels(weight) ?? outChannels;
        int k = kernel;
        Take(weight, [outC, inC, k, k], part);
        Take(bias, [outC], part);
        layers.Add(new ConvolutionLayer
        {
            Name = module, Inputs = [input], Outputs = [module], InChannels = inC, OutChannels = outC, KernelH = k, KernelW = k,
            StrideH = stride, StrideW = stride, PadH = pad, PadW = pad, DilationH = dilation, DilationW = dilation, Weight = weight, Bias = bias,
        });
        channels[module] = outC;
        return module;
    }

    /// <summary>A ReLU layer named <paramref name="name"/> on <paramref name="input"/>; returns its output blob.</summary>
    public string Relu(string name, string input) => Add(new ReluLayer { Name = name, Inputs = [input], Outputs = [name] }, channels[input]);

    /// <summary>A square max pooling layer; returns its output blob.</summary>
    public string MaxPool(string name, string input, int kernel, int stride, int pad, PoolRounding rounding) => Add(new PoolingLayer
    {
        Name = name, Inputs = [input], Outputs = [name], Method = PoolMethod.Max, KernelH = kernel, KernelW = kernel, StrideH = stride, StrideW = stride,
        PadH = pad, PadW = pad, Rounding = rounding,
    }, channels[input]);

    /// <summary>SSD's channel-wise L2 normalisation with a learned per-channel scale (tensor <paramref name="scaleKey"/>).</summary>
    public string L2Norm(string name, string input, string scaleKey, float eps, NormEps mode)
    {
        int c = channels[input];
        Take(scaleKey, [c], SsdPart.L2NormScale);
        return Add(new NormalizeLayer { Name = name, Inputs = [input], Outputs = [name], Eps = eps, EpsMode = mode, Channels = c, Scale = scaleKey }, c);
    }

    // ---- The SSD vocabulary ----

    /// <summary>Marks a feature map as a source: the next multibox head pair and prior map read it.</summary>
    public string Source(string blob)
    {
        if (!channels.ContainsKey(blob)) throw new ArgumentException($"source '{blob}' is not a blob of the graph");
        sources.Add(blob);
        return blob;
    }

    /// <summary>
    /// One extra feature layer: a 1x1 convolution and a kxk one, each followed by ReLU; the second ReLU's output is a
    /// source. Returns it.
    /// </summary>
    public string ExtraLayer((string Conv, string Relu) first, (string Conv, string Relu) second, string input,
        int midChannels, int outChannels, int kernel, int stride, int pad)
    {
        var x = Relu(first.Relu, Conv(first.Conv, input, midChannels, 1, part: SsdPart.Extras));
        return Source(Relu(second.Relu, Conv(second.Conv, x, outChannels, kernel, stride, pad, part: SsdPart.Extras)));
    }

    /// <summary>
    /// The multibox heads: on every source a 3x3 (pad 1) box-regression convolution of boxes x 4 outputs and a
    /// classification one of boxes x classes, each permuted to NHWC and flattened, then concatenated over the sources as
    /// Caffe SSD does ("mbox_loc", "mbox_conf"), the confidences reshaped to [N, P, classes], soft-maxed and flattened
    /// ("mbox_conf_flatten"). Boxes per source and the class count come from the tensor source when it has them (a
    /// checkpoint), else from <paramref name="boxes"/> and <paramref name="numClasses"/>. Returns the class count.
    /// </summary>
    public int MultiboxHeads(Func<int, string> locModule, Func<int, string> confModule, IReadOnlyList<int>? boxes = null, int numClasses = 0)
    {
        var locs = new List<string>();
        var confs = new List<string>();
        int classes = -1;
        for (int i = 0; i < sources.Count; i++)
        {
            int boxOut = source.OutChannels($"{locModule(i)}.weight") ?? (boxes is null ? 4 : 4 * boxes[i]);
            int anchors = boxOut / 4;
            if (boxOut % 4 != 0 || anchors == 0) throw new InvalidDataException($"tensor '{locModule(i)}.weight' has {boxOut} outputs, not a multiple of 4");
            int confOut = source.OutChannels($"{confModule(i)}.weight") ?? anchors * (numClasses > 0 ? numClasses : 2);
            if (confOut % anchors != 0) throw new InvalidDataException($"tensor '{confModule(i)}.weight' has {confOut} outputs, not a multiple of {anchors} boxes");
            int k = confOut / anchors;
            if (classes != -1 && k != classes) throw new InvalidDataException($"head {i} predicts {k} classes, head 0 predicts {classes}");
            classes = k;
            locs.Add(Flat(Conv(locModule(i), sources[i], boxOut, 3, 1, 1, part: SsdPart.Head)));
            confs.Add(Flat(Conv(confModule(i), sources[i], confOut, 3, 1, 1, part: SsdPart.Head)));
        }
        layers.Add(new ConcatLayer { Name = "mbox_loc", Inputs = [.. locs], Outputs = ["mbox_loc"], Axis = 1 });
        layers.Add(new ConcatLayer { Name = "mbox_conf", Inputs = [.. confs], Outputs = ["mbox_conf"], Axis = 1 });
        layers.Add(new ReshapeLayer { Name = "mbox_conf_reshape", Inputs = ["mbox_conf"], Outputs = ["mbox_conf_reshape"], Dims = [0, -1, classes] });
        layers.Add(new SoftmaxLayer { Name = "mbox_conf_softmax", Inputs = ["mbox_conf_reshape"], Outputs = ["mbox_conf_softmax"], Axis = 2 });
        layers.Add(new FlattenLayer { Name = "mbox_conf_flatten", Inputs = ["mbox_conf_softmax"], Outputs = ["mbox_conf_flatten"], Axis = 1 });
        return classes;
    }

    /// <summary>The prior grid: one prior map per source, in source order, in the flavour's <paramref name="style"/>.</summary>
    public PriorConfig PriorGrid(ModelFlavor style, Func<int, string, PriorSpec> map) =>
        new() { Style = style, Maps = [.. sources.Select((s, i) => map(i, s))] };

    /// <summary>
    /// The description of the built graph (outputs "mbox_loc" and "mbox_conf_flatten"), validated, with its tensors.
    /// Throws InvalidDataException listing a checkpoint's missing and unexpected keys.
    /// </summary>
    public ConversionResult Finish(string name, ModelFlavor flavor, InputSpec input, PriorConfig priors, PostProcessSpec post, string mismatch)
    {
        if (source.Problems.Count > 0) throw new InvalidDataException($"{mismatch}: {string.Join(" ", source.Problems)}");
        var description = new ModelDescription
        {
            Name = name, Flavor = flavor, Input = input with { Blob = Input }, Layers = [.. layers],
            Outputs = new OutputSpec { Loc = "mbox_loc", Conf = "mbox_conf_flatten", ConfIsProbability = true },
            Priors = priors, PostProcess = post,
        };
        description.Validate(tensors.Keys);
        return new ConversionResult(description, tensors, [.. source.Warnings]);
    }

    private void Take(string key, int[] shape, SsdPart part)
    {
        if (source.Take(key, shape, part) is { } t) tensors[key] = t;
    }

    private string Flat(string input)
    {
        layers.Add(new PermuteLayer { Name = $"{input}_perm", Inputs = [input], Outputs = [$"{input}_perm"], Order = [0, 2, 3, 1] });
        layers.Add(new FlattenLayer { Name = $"{input}_flat", Inputs = [$"{input}_perm"], Outputs = [$"{input}_flat"], Axis = 1 });
        return $"{input}_flat";
    }

    private string Add(LayerSpec layer, int outChannels)
    {
        layers.Add(layer);
        channels[layer.Outputs[0]] = outChannels;
        return layer.Outputs[0];
    }
}

/// <summary>
/// Tensors from a PyTorch state dict: shapes checked, narrowed to float32 (with a warning), missing keys and keys the
/// architecture never took listed (num_batches_tracked excepted).
/// </summary>
internal sealed class StateDictSource(IReadOnlyDictionary<string, TensorData> state) : ITensorSource
{
    private readonly HashSet<string> taken = [];
    private readonly HashSet<string> missing = [];
    private readonly List<string> warnings = [];

    public int? OutChannels(string weightKey) => !state.TryGetValue(weightKey, out var w) ? null
        : w.Shape.Length == 4 ? w.Shape[0]
        : throw new InvalidDataException($"tensor '{weightKey}' has shape {TensorChecks.Shape(w.Shape)}, expected a 4-D convolution weight [out, in, kh, kw]");

    public TensorData? Take(string key, int[] shape, SsdPart part)
    {
        if (!state.TryGetValue(key, out var t)) { missing.Add(key); return null; }
        if (!t.Shape.SequenceEqual(shape))
            throw new InvalidDataException($"tensor '{key}' has shape {TensorChecks.Shape(t.Shape)}, expected {TensorChecks.Shape(shape)}");
        taken.Add(key);
        return TensorChecks.AsFloat32(t, key, shape, warnings);
    }

    public IReadOnlyList<string> Problems
    {
        get
        {
            var unexpected = state.Keys.Where(k => !taken.Contains(k) && !k.EndsWith("num_batches_tracked")).Order().ToList();
            var list = new List<string>();
            if (missing.Count > 0) list.Add($"missing keys: {string.Join(", ", missing.Order())}.");
            if (unexpected.Count > 0) list.Add($"unexpected keys: {string.Join(", ", unexpected)}.");
            return list;
        }
    }

    public IReadOnlyList<string> Warnings => warnings;
}

/// <summary>
/// New float32 tensors of the architecture's shapes, for training from scratch: zeros, or what
/// <paramref name="initialise"/> fills in (given the tensor's name, shape and part; initialisation is the trainer's).
/// </summary>
internal sealed class InitialiserSource(Action<string, int[], SsdPart, float[]>? initialise = null) : ITensorSource
{
    public int? OutChannels(string weightKey) => null;

    public TensorData? Take(string key, int[] shape, SsdPart part)
    {
        var values = new float[checked(shape.Aggregate(1L, (a, b) => a * b))];
        initialise?.Invoke(key, shape, part, values);
        return new TensorData(key, shape, TensorDType.Float32, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
    }

    public IReadOnlyList<string> Problems => [];
    public IReadOnlyList<string> Warnings => [];
}
