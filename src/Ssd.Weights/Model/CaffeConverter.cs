using Ssd.Weights.Caffe;
using Ssd.Weights.Tensors;

namespace Ssd.Weights.Model;

/// <summary>
/// Converts a Caffe SSD (deploy .prototxt + trained .caffemodel) into the canonical description. PriorBox layers
/// become <see cref="PriorConfig"/> entries, DetectionOutput becomes <see cref="PostProcessSpec"/>; every other
/// layer maps one to one. Each blob's shape is checked against its layer (Caffe's own legacy 4-D rule applies to
/// blobs stored with num/channels/height/width). Tensors are named "{layer}.weight", "{layer}.bias", ...
/// Errors (unknown layer type, missing or misshapen blobs) are InvalidDataException naming the layer. Every field of
/// the deploy file is checked against <see cref="CaffeLayerFields"/>: an unknown one is an error (with
/// <see cref="ConversionOptions.Lenient"/> a warning), and what was not used is listed in
/// <see cref="ConversionResult.Ignored"/>.
/// </summary>
public static class CaffeConverter
{
    /// <summary>Converts a Caffe SSD (deploy prototxt and trained caffemodel) to a model.</summary>
    /// <param name="prototxtPath">The deploy prototxt (the network definition with its DetectionOutput layer).</param>
    /// <param name="caffemodelPath">The trained weights.</param>
    /// <param name="options">Overrides and budgets; <see cref="ConversionOptions.Lenient"/> turns unknown fields into warnings.</param>
    /// <exception cref="InvalidDataException">The files are malformed, disagree, or use a layer or field Ssd does not run.</exception>
    /// <exception cref="PrototxtSyntaxException">The prototxt has a syntax error.</exception>
    /// <exception cref="ReaderBudgetException">A budget would be exceeded.</exception>
    public static ConversionResult Convert(string prototxtPath, string caffemodelPath, ConversionOptions? options = null)
    {
        var net = CaffeNetDefinition.Load(prototxtPath, options?.Budgets);
        var blobs = CaffemodelReader.ReadFile(caffemodelPath, options?.Budgets);
        return Convert(net, blobs, options);
    }

    internal static ConversionResult Convert(CaffeNetDefinition net, IReadOnlyDictionary<string, CaffeLayerBlobs> blobs, ConversionOptions? options = null)
    {
        options ??= new ConversionOptions();
        var check = new CaffeFieldCheck(net.Source, options.Lenient);
        check.Net(net.Root);
        if (net.InputLayer is { } input) check.Param(input);
        var warnings = new List<string>();
        var tensors = new Dictionary<string, TensorData>();
        var layers = new List<LayerSpec>();
        var priorBoxes = new Dictionary<string, (CaffeLayerDefinition Layer, PriorSpec Spec)>(); // by top blob
        CaffeLayerDefinition? detection = null;
        PrototxtMessage detectionParam = new();

        var used = new HashSet<string>();
        CaffeBlob[] Blobs(CaffeLayerDefinition l, int min, int max)
        {
            if (!blobs.TryGetValue(l.Name, out var b))
                throw new InvalidDataException($"{l.Type} layer '{l.Name}': no blobs for it in the caffemodel");
            used.Add(l.Name);
            if (b.Blobs.Count < min || b.Blobs.Count > max)
                throw new InvalidDataException($"{l.Type} layer '{l.Name}': {b.Blobs.Count} blobs in the caffemodel, expected {(min == max ? $"{min}" : $"{min} to {max}")}");
            return b.Blobs.ToArray();
        }
        TensorData Take(CaffeLayerDefinition l, CaffeBlob blob, string suffix, int[] expected)
        {
            if (!ShapeMatches(blob, expected))
                throw new InvalidDataException($"{l.Type} layer '{l.Name}': blob '{suffix}' has shape {TensorChecks.Shape(blob.Tensor.Shape)}, expected {TensorChecks.Shape(expected)}");
            var t = TensorChecks.AsFloat32(blob.Tensor, $"{l.Name}.{suffix}", expected, warnings);
            tensors[t.Name] = t;
            return t;
        }

        foreach (var l in net.Layers)
        {
            if (l.Type != "DetectionOutput" && (l.Bottoms.Length == 0 || l.Tops.Length == 0))
                throw new InvalidDataException($"{l.Type} layer '{l.Name}' needs bottom and top blobs");
            switch (l.Type)
            {
                case "Convolution":
                {
                    var p = check.Param(l);
                    int outC = p.Int("num_output", 0);
                    if (p.Int("axis", 1) != 1) throw new InvalidDataException($"Convolution layer '{l.Name}': axis {p.Int("axis", 1)} is not supported (1 only)");
                    if (outC <= 0) throw new InvalidDataException($"Convolution layer '{l.Name}': num_output missing or not positive");
                    var (kh, kw) = Pair(l, p, "kernel_size", "kernel_h", "kernel_w", null);
                    var (sh, sw) = Pair(l, p, "stride", "stride_h", "stride_w", 1);
                    var (ph, pw) = Pair(l, p, "pad", "pad_h", "pad_w", 0);
                    var dil = p.Ints("dilation");
                    int dh = dil.Length > 0 ? dil[0] : 1, dw = dil.Length > 1 ? dil[1] : dh;
                    int group = p.Int("group", 1);
                    bool biasTerm = p.Bool("bias_term", true);
                    if (group <= 0) throw new InvalidDataException($"Convolution layer '{l.Name}': group {group}");
                    var b = Blobs(l, biasTerm ? 2 : 1, biasTerm ? 2 : 1);
                    var w = b[0].Tensor.Shape;
                    if (w.Length < 2) throw new InvalidDataException($"Convolution layer '{l.Name}': weight blob has shape {TensorChecks.Shape(w)}, expected [{outC}, in/{group}, {kh}, {kw}]");
                    int inPerGroup = b[0].Legacy ? w[1] : w[1];
                    var weight = Take(l, b[0], "weight", [outC, inPerGroup, kh, kw]);
                    var bias = biasTerm ? Take(l, b[1], "bias", [outC]) : null;
                    layers.Add(new ConvolutionLayer
                    {
                        Name = l.Name, Inputs = l.Bottoms, Outputs = l.Tops, InChannels = inPerGroup * group, OutChannels = outC,
                        KernelH = kh, KernelW = kw, StrideH = sh, StrideW = sw, PadH = ph, PadW = pw, DilationH = dh, DilationW = dw,
                        Groups = group, Weight = weight.Name, Bias = bias?.Name,
                    });
                    break;
                }
                case "ReLU":
                    layers.Add(new ReluLayer { Name = l.Name, Inputs = l.Bottoms, Outputs = l.Tops, NegativeSlope = check.Param(l).Float("negative_slope", 0) });
                    break;
                case "Pooling":
                {
                    var p = check.Param(l);
                    var method = p.Enum("pool") ?? "MAX";
                    var rounding = (p.Enum("round_mode") ?? "CEIL") switch
                    {
                        "CEIL" or "0" => PoolRounding.Ceil, "FLOOR" or "1" => PoolRounding.Floor,
                        var r => throw new InvalidDataException($"Pooling layer '{l.Name}': round_mode {r} (CEIL or FLOOR)"),
                    };
                    bool global = p.Bool("global_pooling", false);
                    var (kh, kw) = global ? (0, 0) : Pair(l, p, "kernel_size", "kernel_h", "kernel_w", null);
                    var (sh, sw) = Pair(l, p, "stride", "stride_h", "stride_w", 1);
                    var (ph, pw) = Pair(l, p, "pad", "pad_h", "pad_w", 0);
                    layers.Add(new PoolingLayer
                    {
                        Name = l.Name, Inputs = l.Bottoms, Outputs = l.Tops, Global = global,
                        Method = method switch { "MAX" or "0" => PoolMethod.Max, "AVE" or "1" => PoolMethod.Average,
                            _ => throw new InvalidDataException($"Pooling layer '{l.Name}': pool method {method} is not supported (MAX or AVE)") },
                        KernelH = kh, KernelW = kw, StrideH = sh, StrideW = sw, PadH = ph, PadW = pw, Rounding = rounding,
                    });
                    break;
                }
                case "Normalize":
                {
                    var p = check.Param(l);
                    bool shared = p.Bool("channel_shared", true);
                    var b = Blobs(l, 1, 1);
                    int channels = shared ? 1 : (int)b[0].Tensor.ElementCount;
                    var scale = Take(l, b[0], "scale", [channels]);
                    layers.Add(new NormalizeLayer
                    {
                        Name = l.Name, Inputs = l.Bottoms, Outputs = l.Tops, AcrossSpatial = p.Bool("across_spatial", true), ChannelShared = shared,
                        Eps = p.Float("eps", 1e-10f), EpsMode = NormEps.InsideSqrt, Channels = channels, Scale = scale.Name,
                    });
                    break;
                }
                case "Permute":
                    layers.Add(new PermuteLayer { Name = l.Name, Inputs = l.Bottoms, Outputs = l.Tops, Order = CompletePermutation(l, check.Param(l).Ints("order")) });
                    break;
                case "Flatten":
                {
                    var p = check.Param(l);
                    layers.Add(new FlattenLayer { Name = l.Name, Inputs = l.Bottoms, Outputs = l.Tops, Axis = p.Int("axis", 1), EndAxis = p.Int("end_axis", -1) });
                    break;
                }
                case "Concat":
                {
                    var p = check.Param(l);
                    layers.Add(new ConcatLayer { Name = l.Name, Inputs = l.Bottoms, Outputs = l.Tops, Axis = p.Has("axis") ? p.Int("axis", 1) : p.Int("concat_dim", 1) });
                    break;
                }
                case "Reshape":
                {
                    var p = check.Param(l);
                    if (p.Int("axis", 0) != 0 || p.Int("num_axes", -1) != -1)
                        throw new InvalidDataException($"Reshape layer '{l.Name}': axis/num_axes are not supported");
                    var dims = p.Message("shape")?.Ints("dim") ?? throw new InvalidDataException($"Reshape layer '{l.Name}': reshape_param.shape is missing");
                    layers.Add(new ReshapeLayer { Name = l.Name, Inputs = l.Bottoms, Outputs = l.Tops, Dims = dims });
                    break;
                }
                case "Softmax":
                    layers.Add(new SoftmaxLayer { Name = l.Name, Inputs = l.Bottoms, Outputs = l.Tops, Axis = check.Param(l).Int("axis", 1) });
                    break;
                case "BatchNorm":
                {
                    var p = check.Param(l);
                    if (!p.Bool("use_global_stats", true))
                        throw new InvalidDataException($"BatchNorm layer '{l.Name}': use_global_stats is false (statistics of each batch at test time); the engine runs BatchNorm with its stored statistics only");
                    var b = Blobs(l, 3, 3);
                    int c = (int)b[0].Tensor.ElementCount;
                    if (b[2].Tensor.ElementCount != 1) throw new InvalidDataException($"BatchNorm layer '{l.Name}': moving-average factor blob has shape {TensorChecks.Shape(b[2].Tensor.Shape)}, expected [1]");
                    // Caffe stores running sums; dividing by the factor gives the mean and variance (factor 0 means 0).
                    float factor = b[2].Tensor.ToFloat32()[0];
                    float k = factor == 0 ? 0 : 1 / factor;
                    var mean = Take(l, b[0], "mean", [c]);
                    var variance = Take(l, b[1], "variance", [c]);
                    tensors[mean.Name] = Scaled(mean, k);
                    tensors[variance.Name] = Scaled(variance, k);
                    layers.Add(new BatchNormLayer { Name = l.Name, Inputs = l.Bottoms, Outputs = l.Tops, Channels = c, Eps = p.Float("eps", 1e-5f), Mean = mean.Name, Variance = variance.Name });
                    break;
                }
                case "Scale":
                {
                    var p = check.Param(l);
                    bool biasTerm = p.Bool("bias_term", false);
                    if (l.Bottoms.Length != 1) throw new InvalidDataException($"Scale layer '{l.Name}': only the learned-scale form (one bottom) is supported");
                    int axis = p.Int("axis", 1), numAxes = p.Int("num_axes", 1);
                    if (numAxes < -1) throw new InvalidDataException($"Scale layer '{l.Name}': num_axes {numAxes} (must be -1 or more)");
                    var b = Blobs(l, biasTerm ? 2 : 1, biasTerm ? 2 : 1);
                    int c = (int)b[0].Tensor.ElementCount;
                    // The factors span input axes [axis, axis + num_axes): stored flat, checked against the input at plan time.
                    int[] shape = b[0].Legacy ? [c] : b[0].Tensor.Shape;
                    var scale = Flat(Take(l, b[0], "scale", shape));
                    var bias = biasTerm ? Flat(Take(l, b[1], "bias", shape)) : null; // shaped as the factors
                    tensors[scale.Name] = scale;
                    if (bias is not null) tensors[bias.Name] = bias;
                    layers.Add(new ScaleLayer
                    {
                        Name = l.Name, Inputs = l.Bottoms, Outputs = l.Tops, Channels = c, Axis = axis, NumAxes = numAxes, Scale = scale.Name, Bias = bias?.Name,
                    });
                    break;
                }
                case "Eltwise":
                {
                    var p = check.Param(l);
                    var op = p.Enum("operation") ?? "SUM";
                    var operation = op switch
                    {
                        "SUM" or "1" => EltwiseOperation.Sum, "PROD" or "0" => EltwiseOperation.Prod, "MAX" or "2" => EltwiseOperation.Max,
                        _ => throw new InvalidDataException($"Eltwise layer '{l.Name}': operation {op} is not one of PROD, SUM, MAX"),
                    };
                    var coeff = p.Floats("coeff");
                    if (l.Bottoms.Length < 2) throw new InvalidDataException($"Eltwise layer '{l.Name}': {l.Bottoms.Length} bottom; it combines two or more");
                    if (coeff.Length != 0 && operation != EltwiseOperation.Sum)
                        throw new InvalidDataException($"Eltwise layer '{l.Name}': coefficients are only taken by SUM, not by {op}");
                    if (coeff.Length != 0 && coeff.Length != l.Bottoms.Length)
                        throw new InvalidDataException($"Eltwise layer '{l.Name}': {coeff.Length} coefficients for {l.Bottoms.Length} bottoms (one per bottom, or none)");
                    if (coeff.Any(x => !float.IsFinite(x))) throw new InvalidDataException($"Eltwise layer '{l.Name}': a coefficient is not finite");
                    layers.Add(new EltwiseLayer { Name = l.Name, Inputs = l.Bottoms, Outputs = l.Tops, Operation = operation, Coefficients = coeff });
                    break;
                }
                case "PriorBox":
                    priorBoxes[l.Tops[0]] = (l, ReadPriorBox(l, check.Param(l)));
                    break;
                case "DetectionOutput":
                    if (detection is not null) throw new InvalidDataException($"two DetectionOutput layers ('{detection.Name}', '{l.Name}')");
                    detection = l;
                    detectionParam = check.Param(l);
                    break;
                case "Dropout":
                    throw new InvalidDataException($"Dropout layer '{l.Name}': remove it from the deploy file (it is the identity at test time)");
                default:
                    throw new InvalidDataException($"layer '{l.Name}' has type '{l.Type}', which this converter does not support");
            }
        }

        if (detection is null) throw new InvalidDataException("the deploy file has no DetectionOutput layer; is it an SSD network?");
        if (detection.Bottoms.Length < 3) throw new InvalidDataException($"DetectionOutput layer '{detection.Name}' needs loc, conf and prior bottoms");
        var priors = PriorsFeeding(detection.Bottoms[2], priorBoxes, layers, detection.Name);
        foreach (var unusedBlob in blobs.Keys.Where(k => !used.Contains(k) && net.Layers.Any(l => l.Name == k)))
            warnings.Add($"caffemodel blobs of layer '{unusedBlob}' are not used");

        int width = (int)net.InputShape[3], height = (int)net.InputShape[2];
        if (options.InputSize is { } size) (width, height) = size;
        var post = ReadDetectionOutput(detection, detectionParam, options);
        // Caffe decodes with each prior's own variances; SSD models use one set for all maps.
        var v = priors[0].Variances;
        post = post with { Variances = v.Length == 4 ? v : [v[0], v[0], v[0], v[0]] };
        // A deploy file does not say which mean the network was trained with (a DetectionOutput's transform_param
        // only describes how saved images are drawn), so the mean comes from --mean or is zero.
        var inputMean = options.Mean;
        if (inputMean is null)
        {
            inputMean = [0f, 0f, 0f];
            warnings.Add("the deploy file does not give the training mean; using none (original VGG SSD models need --mean 104,117,123)");
        }
        var description = new ModelDescription
        {
            Name = net.Name,
            Flavor = ModelFlavor.Caffe,
            Input = new InputSpec
            {
                Blob = net.InputBlob, Width = width, Height = height, Channels = (int)net.InputShape[1],
                ChannelOrder = options.ChannelOrder ?? ChannelOrder.Bgr, Mean = inputMean, Std = options.Std ?? [1f, 1f, 1f],
                Scale = options.Scale ?? 1f, PixelRange = options.PixelRange ?? PixelRange.Byte, Resize = ResizeMethod.OpenCvLinear,
            },
            Layers = layers.ToArray(),
            Outputs = new OutputSpec { Loc = detection.Bottoms[0], Conf = detection.Bottoms[1], ConfIsProbability = layers.Any(x => x is SoftmaxLayer) },
            Priors = new PriorConfig { Style = ModelFlavor.Caffe, Maps = priors },
            PostProcess = post,
        };
        description.Validate(tensors.Keys);
        warnings.AddRange(check.Warnings);
        return new ConversionResult(description, tensors, warnings, check.Ignored);
    }

    /// <summary>Caffe's Blob::ShapeEquals: a legacy 4-D blob matches when the expected shape padded to 4-D with leading 1s equals it.</summary>
    private static bool ShapeMatches(CaffeBlob blob, int[] expected)
    {
        var s = blob.Tensor.Shape;
        if (!blob.Legacy) return s.SequenceEqual(expected);
        if (expected.Length > 4) return false;
        var padded = Enumerable.Repeat(1, 4 - expected.Length).Concat(expected);
        return s.SequenceEqual(padded);
    }

    private static TensorData Flat(TensorData t) => t.Shape.Length == 1 ? t : new(t.Name, [checked((int)t.ElementCount)], t.DType, t.Bytes);

    private static TensorData Scaled(TensorData t, float k)
    {
        var bytes = t.ToFloat32Bytes();
        foreach (ref var v in System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes.AsSpan())) v *= k;
        return new(t.Name, t.Shape, TensorDType.Float32, bytes);
    }

    /// <summary>Reads `x` (one value or one per spatial axis) or the `x_h`/`x_w` pair.</summary>
    private static (int H, int W) Pair(CaffeLayerDefinition l, PrototxtMessage p, string both, string h, string w, int? fallback)
    {
        if (p.Has(h) || p.Has(w))
        {
            if (!p.Has(h) || !p.Has(w)) throw new InvalidDataException($"{l.Type} layer '{l.Name}': give both {h} and {w}");
            return (p.Int(h, 0), p.Int(w, 0));
        }
        var v = p.Ints(both);
        return v.Length switch
        {
            0 when fallback is { } f => (f, f),
            0 => throw new InvalidDataException($"{l.Type} layer '{l.Name}': {both} is missing"),
            1 => (v[0], v[0]),
            2 => (v[0], v[1]),
            _ => throw new InvalidDataException($"{l.Type} layer '{l.Name}': {v.Length} values of {both}, only 2-D is supported"),
        };
    }

    /// <summary>Caffe's Permute appends the axes not named, in order.</summary>
    private static int[] CompletePermutation(CaffeLayerDefinition l, int[] order)
    {
        var full = order.ToList();
        for (int i = 0; i < 4; i++) if (!full.Contains(i)) full.Add(i);
        if (full.Count != 4 || full.Any(o => o is < 0 or > 3) || full.Distinct().Count() != 4)
            throw new InvalidDataException($"Permute layer '{l.Name}': order [{string.Join(",", order)}] is not a permutation of 4 axes");
        return full.ToArray();
    }

    private static PriorSpec ReadPriorBox(CaffeLayerDefinition l, PrototxtMessage p)
    {
        float step = p.Float("step", 0), stepH = p.Float("step_h", step), stepW = p.Float("step_w", step);
        int img = p.Int("img_size", 0);
        var variances = p.Floats("variance");
        return new PriorSpec
        {
            Source = l.Bottoms[0],
            MinSizes = p.Floats("min_size"),
            MaxSizes = p.Floats("max_size"),
            AspectRatios = p.Floats("aspect_ratio"),
            Flip = p.Bool("flip", true),
            Clip = p.Bool("clip", false),
            Variances = variances.Length == 0 ? [0.1f] : variances,
            StepWidth = stepW, StepHeight = stepH,
            Offset = p.Float("offset", 0.5f),
            ImageWidth = p.Int("img_w", img), ImageHeight = p.Int("img_h", img),
        };
    }

    /// <summary>The prior maps feeding DetectionOutput: one PriorBox, or a Concat of PriorBoxes (which is then dropped).</summary>
    private static PriorSpec[] PriorsFeeding(string blob, Dictionary<string, (CaffeLayerDefinition Layer, PriorSpec Spec)> boxes, List<LayerSpec> layers, string detection)
    {
        if (boxes.TryGetValue(blob, out var single)) return [single.Spec];
        var concat = layers.OfType<ConcatLayer>().LastOrDefault(c => c.Outputs.Contains(blob))
            ?? throw new InvalidDataException($"DetectionOutput '{detection}': prior blob '{blob}' comes from neither a PriorBox nor a Concat of PriorBoxes");
        var missing = concat.Inputs.Where(i => !boxes.ContainsKey(i)).ToList();
        if (missing.Count > 0) throw new InvalidDataException($"prior Concat '{concat.Name}': inputs {string.Join(", ", missing)} are not PriorBox outputs");
        layers.Remove(concat);
        return concat.Inputs.Select(i => boxes[i].Spec).ToArray();
    }

    private static PostProcessSpec ReadDetectionOutput(CaffeLayerDefinition l, PrototxtMessage p, ConversionOptions options)
    {
        var nms = p.Message("nms_param") ?? new PrototxtMessage();
        if (nms.Float("eta", 1) != 1) throw new InvalidDataException($"DetectionOutput '{l.Name}': adaptive NMS (eta {nms.Float("eta", 1)}) is not supported");
        int classes = p.Int("num_classes", 0);
        if (classes < 2) throw new InvalidDataException($"DetectionOutput '{l.Name}': num_classes {classes} (need >= 2)");
        var code = p.Enum("code_type") ?? "CORNER";
        if (code is not ("CENTER_SIZE" or "2")) throw new InvalidDataException($"DetectionOutput '{l.Name}': code_type {code} is not supported (CENTER_SIZE only)");
        if (p.Bool("variance_encoded_in_target", false)) throw new InvalidDataException($"DetectionOutput '{l.Name}': variance_encoded_in_target is not supported");
        int background = p.Int("background_label_id", 0);
        return new PostProcessSpec
        {
            Style = ModelFlavor.Caffe, NumClasses = classes, BackgroundId = background,
            ConfidenceThreshold = p.Float("confidence_threshold", 0), NmsThreshold = nms.Float("nms_threshold", 0.3f),
            TopK = nms.Int("top_k", -1), KeepTopK = p.Int("keep_top_k", -1), ShareLocation = p.Bool("share_location", true),
            Clip = p.Bool("clip", false),
            CodeType = "CENTER_SIZE", Variances = [0.1f, 0.1f, 0.2f, 0.2f],
            ClassNames = ClassNames.Resolve(options.ClassNames, classes, background, classes == 21 ? ClassNames.Voc : null),
        };
    }
}
