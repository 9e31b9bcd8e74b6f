namespace Ssd.Weights.Model;

/// <summary>Consistency checks of a <see cref="ModelDescription"/>; each failure names the offending part.</summary>
internal static class ModelValidator
{
    public static void Validate(ModelDescription d, IReadOnlyCollection<string>? tensorNames)
    {
        if (d.FormatVersion != ModelDescription.CurrentFormatVersion)
            Fail($"format version {d.FormatVersion} is not supported (this build reads {ModelDescription.CurrentFormatVersion})");
        if (string.IsNullOrWhiteSpace(d.Name)) Fail("name is empty");
        if (ReaderErrors.HasControlCharacters(d.Name)) Fail($"name '{ReaderErrors.Printable(d.Name)}' holds control characters");
        ValidateInput(d.Input);
        if (d.Layers is null || d.Layers.Length == 0) Fail("the layer list is empty");

        var known = new HashSet<string> { d.Input.Blob };
        var names = new HashSet<string>();
        foreach (var layer in d.Layers)
        {
            if (layer is null) Fail("null layer in the layer list");
            if (string.IsNullOrEmpty(layer!.Name)) Fail("a layer has no name");
            if (layer.Inputs is not null && layer.Outputs is not null
                && layer.Inputs.Append(layer.Name).Concat(layer.Outputs).Any(n => n is not null && ReaderErrors.HasControlCharacters(n)))
                Fail($"layer '{ReaderErrors.Printable(layer.Name)}' has a name or blob name with control characters");
            if (!names.Add(layer.Name)) Fail($"layer name '{layer.Name}' is used twice");
            if (layer.Inputs is null || layer.Inputs.Length == 0) Fail($"layer '{layer.Name}' has no inputs");
            if (layer.Outputs is null || layer.Outputs.Length == 0) Fail($"layer '{layer.Name}' has no outputs");
            if (layer.Inputs.Any(string.IsNullOrEmpty) || layer.Outputs.Any(string.IsNullOrEmpty)) Fail($"layer '{layer.Name}' has an empty blob name");
            foreach (var input in layer.Inputs!)
                if (!known.Contains(input)) Fail($"layer '{layer.Name}' reads blob '{input}' before any layer writes it");
            foreach (var output in layer.Outputs!) known.Add(output);
            ValidateLayer(layer);
            if (tensorNames is not null)
                foreach (var (tensor, _) in layer.TensorShapes())
                    if (!tensorNames.Contains(tensor)) Fail($"layer '{layer.Name}' needs tensor '{tensor}', which the model file lacks");
        }

        if (!known.Contains(d.Outputs.Loc)) Fail($"output loc blob '{d.Outputs.Loc}' is not produced by any layer");
        if (!known.Contains(d.Outputs.Conf)) Fail($"output conf blob '{d.Outputs.Conf}' is not produced by any layer");
        if (d.Priors.Maps is null || d.Priors.Maps.Length == 0) Fail("no prior (default box) maps");
        foreach (var p in d.Priors.Maps!)
        {
            if (p is null) Fail("null entry in the prior maps");
            if (!known.Contains(p.Source)) Fail($"prior source blob '{p.Source}' is not produced by any layer");
            if (p.MinSizes is null || p.MinSizes.Length == 0 || p.MinSizes.Any(s => !(s > 0))) Fail($"priors of '{p.Source}': min sizes must be positive");
            if (p.MaxSizes.Length != 0 && p.MaxSizes.Length != p.MinSizes!.Length) Fail($"priors of '{p.Source}': {p.MaxSizes.Length} max sizes for {p.MinSizes.Length} min sizes");
            if (p.AspectRatios.Any(r => !(r > 0))) Fail($"priors of '{p.Source}': aspect ratios must be positive");
            if (p.Variances.Length is not (1 or 4)) Fail($"priors of '{p.Source}': {p.Variances.Length} variances, expected 1 or 4");
        }

        var post = d.PostProcess;
        if (post.NumClasses < 2) Fail($"post-processing: {post.NumClasses} classes, need at least 2 (background + one)");
        if (post.BackgroundId < -1 || post.BackgroundId >= post.NumClasses) Fail($"post-processing: background id {post.BackgroundId} outside 0..{post.NumClasses - 1}");
        if (!(post.NmsThreshold > 0 && post.NmsThreshold <= 1)) Fail($"post-processing: NMS threshold {post.NmsThreshold} outside (0, 1]");
        if (!(post.ConfidenceThreshold >= 0 && post.ConfidenceThreshold < 1)) Fail($"post-processing: confidence threshold {post.ConfidenceThreshold} outside [0, 1)");
        if (post.TopK <= 0 && post.TopK != -1) Fail($"post-processing: top_k {post.TopK} must be positive (or -1 for all)");
        if (post.KeepTopK < -1) Fail($"post-processing: keep_top_k {post.KeepTopK} must be >= -1");
        if (post.Variances.Length != 4) Fail($"post-processing: {post.Variances.Length} variances, expected 4");
        if (post.Clip && post.Style != ModelFlavor.Caffe) Fail($"post-processing: clip is Caffe's DetectionOutput option, not {post.Style}'s");
        if (post.ClassNames is not null && post.ClassNames.Any(n => n is null)) Fail("post-processing: a class name is null");
        if (post.ClassNames is not null && post.ClassNames.Length != post.NumClasses)
            Fail($"post-processing: {post.ClassNames.Length} class names for {post.NumClasses} classes");
    }

    private static void ValidateInput(InputSpec input)
    {
        if (input is null) Fail("input is missing");
        if (input!.Width <= 0 || input.Height <= 0) Fail($"input size {input.Width}x{input.Height} must be positive");
        if (input.Channels is not (1 or 3)) Fail($"input has {input.Channels} channels, expected 1 or 3");
        if (input.Mean is null || input.Mean.Length is not (1 or 3) || (input.Mean.Length != 1 && input.Mean.Length != input.Channels))
            Fail($"input mean needs 1 or {input.Channels} values");
        if (input.Std is null || (input.Std.Length != 1 && input.Std.Length != input.Channels) || input.Std.Any(s => !(s > 0)))
            Fail($"input std needs 1 or {input.Channels} positive values");
        if (!float.IsFinite(input.Scale) || input.Scale == 0f) Fail($"input scale {input.Scale} must be finite and non-zero");
        if (!Enum.IsDefined(input.PixelRange)) Fail($"input pixel range {(int)input.PixelRange} is unknown");
    }

    private static void ValidateLayer(LayerSpec layer)
    {
        switch (layer)
        {
            case ConvolutionLayer c:
                if (c.InChannels <= 0 || c.OutChannels <= 0 || c.KernelH <= 0 || c.KernelW <= 0 || c.StrideH <= 0 || c.StrideW <= 0
                    || c.PadH < 0 || c.PadW < 0 || c.DilationH <= 0 || c.DilationW <= 0 || c.Groups <= 0)
                    Fail($"convolution '{c.Name}': sizes must be positive (pads non-negative)");
                if (c.InChannels % c.Groups != 0 || c.OutChannels % c.Groups != 0)
                    Fail($"convolution '{c.Name}': {c.InChannels} in / {c.OutChannels} out channels not divisible by {c.Groups} groups");
                break;
            case PoolingLayer p when !p.Global && (p.KernelH <= 0 || p.KernelW <= 0 || p.StrideH <= 0 || p.StrideW <= 0 || p.PadH < 0 || p.PadW < 0):
                Fail($"pooling '{p.Name}': kernel and stride must be positive");
                break;
            case PermuteLayer p when p.Order.Length == 0 || p.Order.Distinct().Count() != p.Order.Length || p.Order.Any(o => o < 0 || o >= Math.Max(4, p.Order.Length)):
                Fail($"permute '{p.Name}': order [{string.Join(",", p.Order)}] is not a permutation");
                break;
            case ConcatLayer c when c.Inputs.Length < 1:
                Fail($"concat '{c.Name}' has no inputs");
                break;
            case ReshapeLayer r when r.Dims.Count(x => x == -1) > 1 || r.Dims.Any(x => x < -1):
                Fail($"reshape '{r.Name}': dims [{string.Join(",", r.Dims)}] (at most one -1, no other negative)");
                break;
            case NormalizeLayer n when n.Channels <= 0 || !(n.Eps >= 0):
                Fail($"normalize '{n.Name}': channels must be positive and eps non-negative");
                break;
            case BatchNormLayer b when b.Channels <= 0 || !(b.Eps >= 0) || float.IsInfinity(b.Eps):
                Fail($"batch norm '{b.Name}': channels must be positive and eps finite and non-negative");
                break;
            case ScaleLayer s when s.Channels <= 0 || s.NumAxes < -1:
                Fail($"scale '{s.Name}': {s.Channels} factors, num_axes {s.NumAxes} (need factors and num_axes >= -1)");
                break;
            case EltwiseLayer e:
                if (e.Inputs.Length < 2) Fail($"eltwise '{e.Name}' has {e.Inputs.Length} input; it combines two or more");
                if (!Enum.IsDefined(e.Operation)) Fail($"eltwise '{e.Name}': unknown operation {(int)e.Operation}");
                if (e.Coefficients is null) Fail($"eltwise '{e.Name}': coefficients are null");
                if (e.Coefficients!.Length != 0 && e.Operation != EltwiseOperation.Sum)
                    Fail($"eltwise '{e.Name}': coefficients are only taken by the sum, not by {e.Operation}");
                if (e.Coefficients.Length != 0 && e.Coefficients.Length != e.Inputs.Length)
                    Fail($"eltwise '{e.Name}': {e.Coefficients.Length} coefficients for {e.Inputs.Length} inputs");
                if (e.Coefficients.Any(c => !float.IsFinite(c))) Fail($"eltwise '{e.Name}': a coefficient is not finite");
                break;
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Fail(string message) => throw new InvalidDataException($"model description: {ReaderErrors.Printable(message, 500)}");
}
