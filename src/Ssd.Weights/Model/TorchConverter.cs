using Ssd.Weights.Model.Architecture;
using Ssd.Weights.Tensors;

namespace Ssd.Weights.Model;

/// <summary>
/// Converts PyTorch SSD300/SSD512 state dicts into the canonical description. The architecture is the reference
/// one of each project, the SSD vocabulary's VGG-16 SSD in the project's layout (<see cref="VggSsd"/>); only channel
/// counts come from the tensor shapes:
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

    /// <summary>Converts a PyTorch state dict (from <see cref="Torch.TorchCheckpoint.Load(string, ReaderBudgets?)"/>) to a model.</summary>
    /// <param name="state">The tensors by key.</param>
    /// <param name="flavor">ssd.pytorch or torchvision; null tells it from the keys (<see cref="Detect"/>).</param>
    /// <param name="options">Class names, mean, std, input size the checkpoint cannot tell.</param>
    /// <exception cref="InvalidDataException">Keys are missing or unexpected, or a shape does not fit the architecture.</exception>
    public static ConversionResult Convert(IReadOnlyDictionary<string, TensorData> state, ModelFlavor? flavor = null, ConversionOptions? options = null)
    {
        var s = StripModulePrefix(state);
        options ??= new();
        switch (flavor ?? Detect(s))
        {
            case ModelFlavor.SsdPytorch:
            {
                int extras = CountIndexed(s, "extras."), heads = CountIndexed(s, "loc.");
                bool ssd512 = extras == 2 * VggSsd.ExtraLayers(512);
                if (extras != 2 * VggSsd.ExtraLayers(ssd512 ? 512 : 300) || heads != VggSsd.BoxesPerSource(ssd512 ? 512 : 300).Length)
                    throw new InvalidDataException($"ssd.pytorch checkpoint with {extras} extra layers and {heads} heads: expected 8 and 6 (SSD300) or 10 and 7 (SSD512)");
                int size = ssd512 ? 512 : 300;
                return ConvertSsdPytorch(new StateDictSource(s), size, 0, 1, options);
            }
            case ModelFlavor.Torchvision:
            {
                int extras = CountIndexed(s, "backbone.extra."), heads = CountIndexed(s, "head.regression_head.module_list.");
                if (extras != 5 || heads != 6)
                    throw new InvalidDataException($"torchvision checkpoint with {extras} extra blocks and {heads} heads: only ssd300_vgg16 (5 and 6) is supported");
                return ConvertTorchvision(new StateDictSource(s), 300, 0, 1, options);
            }
            case var f:
                throw new ArgumentException($"flavour {f} is not a PyTorch layout");
        }
    }

    private static IReadOnlyDictionary<string, TensorData> StripModulePrefix(IReadOnlyDictionary<string, TensorData> s) =>
        s.Count > 0 && s.Keys.All(k => k.StartsWith("module.")) ? s.ToDictionary(kv => kv.Key["module.".Length..], kv => kv.Value) : s;

    /// <summary>ssd.pytorch's SSD300/SSD512 from a checkpoint's tensors, or (training from scratch) new ones.</summary>
    internal static ConversionResult ConvertSsdPytorch(ITensorSource source, int size, int classes, int widthDivisor, ConversionOptions options)
    {
        var (g, numClasses) = VggSsd.Graph(ModelFlavor.SsdPytorch, size, source, classes, widthDivisor);
        bool ssd512 = size == 512;
        var sources = g.Sources.ToList();
        var known = numClasses == 21 ? ClassNames.Voc : null;
        var priors = SsdPytorchPriors(ssd512, numClasses, sources);
        return Finish(g, source, options, ModelFlavor.SsdPytorch, $"ssd{size}-pytorch", size,
            new InputSpec
            {
                Width = size, Height = size, ChannelOrder = options.ChannelOrder ?? ChannelOrder.Rgb,
                // ssd.pytorch subtracts (104, 117, 123) from the BGR image and then swaps to RGB.
                Mean = options.Mean ?? [123f, 117f, 104f], Std = options.Std ?? [1f, 1f, 1f],
                Scale = options.Scale ?? 1f, PixelRange = options.PixelRange ?? PixelRange.Byte, Resize = ResizeMethod.OpenCvLinear,
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

    /// <summary>torchvision's ssd300_vgg16 from a checkpoint's tensors, or (training from scratch, 300 or 512) new ones.</summary>
    internal static ConversionResult ConvertTorchvision(ITensorSource source, int size, int classes, int widthDivisor, ConversionOptions options)
    {
        var (g, numClasses) = VggSsd.Graph(ModelFlavor.Torchvision, size, source, classes, widthDivisor);
        var sources = g.Sources.ToList();
        // ssd300_vgg16's DefaultBoxGenerator; for SSD512 (trained from scratch; torchvision ships none) Caffe's geometry.
        float[] scales = size == 512 ? [0.07f, 0.15f, 0.3f, 0.45f, 0.6f, 0.75f, 0.9f, 1.05f] : [0.07f, 0.15f, 0.33f, 0.51f, 0.69f, 0.87f, 1.05f];
        float[] steps = size == 512 ? [8, 16, 32, 64, 128, 256, 512] : [8, 16, 32, 64, 100, 300];
        float[][] ars = size == 512 ? [[2], [2, 3], [2, 3], [2, 3], [2, 3], [2], [2]] : [[2], [2, 3], [2, 3], [2, 3], [2], [2]];
        var priors = new PriorConfig
        {
            Style = ModelFlavor.Torchvision,
            Maps = sources.Select((src, i) => new PriorSpec
            {
                Source = src, MinSizes = [scales[i] * size], MaxSizes = [scales[i + 1] * size], AspectRatios = ars[i], Flip = true, Clip = true,
                StepWidth = steps[i], StepHeight = steps[i],
            }).ToArray(),
        };
        return Finish(g, source, options, ModelFlavor.Torchvision, $"ssd{size}-vgg16-torchvision", size,
            new InputSpec
            {
                Width = size, Height = size, ChannelOrder = options.ChannelOrder ?? ChannelOrder.Rgb,
                Mean = options.Mean ?? [0.48235f, 0.45882f, 0.40784f], Std = options.Std ?? [1f / 255, 1f / 255, 1f / 255],
                Scale = options.Scale ?? 1f, PixelRange = options.PixelRange ?? PixelRange.Unit, Resize = ResizeMethod.TorchBilinear,
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

    /// <summary>The description (the input size overridden when asked, with a warning) and the tensors of a built graph.</summary>
    private static ConversionResult Finish(SsdBuilder g, ITensorSource source, ConversionOptions options, ModelFlavor flavor, string name, int size,
        InputSpec input, PriorConfig priors, PostProcessSpec post)
    {
        string? warning = options.InputSize is { } s && (s.Width != size || s.Height != size)
            ? $"input size {s.Width}x{s.Height} overrides the reference {size}x{size}; the priors assume {size}" : null;
        if (options.InputSize is { } sz) input = input with { Width = sz.Width, Height = sz.Height };
        var result = g.Finish(name, flavor, input, priors, post, $"{flavor} checkpoint does not match the reference SSD{size} layout");
        return warning is null ? result : result with { Warnings = [.. result.Warnings, warning] };
    }
}
