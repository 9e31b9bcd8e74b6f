namespace Ssd.Weights.Caffe;

/// <summary>
/// What Ssd knows of the fields of a deploy .prototxt: for each layer type the converter runs, its parameter block
/// and that block's fields, in three kinds (field names as in Caffe's caffe.proto, BVLC and weiliu89's SSD fork):
/// <list type="bullet">
/// <item><b>reads</b>: fields the converter interprets (or refuses when set to what Ssd does not run);</item>
/// <item><b>ignores</b>: valid fields of parts Ssd does not run (DetectionOutput's visualisation and saving); they
/// are accepted and listed in the converted model's "ssd.ignored" metadata;</item>
/// <item><b>inert</b>: valid fields that do not change what inference computes (fillers, engines, training
/// settings); accepted silently.</item>
/// </list>
/// Any other field inside a parameter block of a layer type listed here is unknown: an error naming the field and
/// its line (a misspelt `or5er` would otherwise silently leave the default), or with `convert --lenient` a warning
/// and an "ssd.ignored" entry. To support a new layer type, add one row here and one case in
/// <see cref="Model.CaffeConverter"/>; <see cref="CaffeFieldCheck.Param"/> refuses a type without a row.
/// </summary>
internal static class CaffeLayerFields
{
    /// <summary>A message's fields by kind (space-separated names) and the schemas of the read sub-messages.</summary>
    public sealed record Schema(string Reads, string Ignores = "", string Inert = "")
    {
        public IReadOnlySet<string> ReadSet { get; } = Split(Reads);
        public IReadOnlySet<string> IgnoredSet { get; } = Split(Ignores);
        public IReadOnlySet<string> InertSet { get; } = Split(Inert);

        private static HashSet<string> Split(string names) => [.. names.Split(' ', StringSplitOptions.RemoveEmptyEntries)];
    }

    /// <summary>One layer type: its parameter block (null: none) and that block's fields.</summary>
    public sealed record LayerFields(string? Param, Schema Fields);

    /// <summary>The layer types Ssd converts. One row per type; keep them in this order (types, then nested messages).</summary>
    public static readonly IReadOnlyDictionary<string, LayerFields> Layers = new Dictionary<string, LayerFields>
    {
        ["Input"] = new("input_param", new("shape")),
        ["Convolution"] = new("convolution_param", new(
            "num_output bias_term pad kernel_size stride dilation pad_h pad_w kernel_h kernel_w stride_h stride_w group axis",
            Inert: "weight_filler bias_filler engine force_nd_im2col cudnn_convolution_algo_seeker")),
        ["ReLU"] = new("relu_param", new("negative_slope", Inert: "engine")),
        ["Pooling"] = new("pooling_param", new(
            "pool pad pad_h pad_w kernel_size kernel_h kernel_w stride stride_h stride_w global_pooling round_mode", Inert: "engine")),
        ["Normalize"] = new("norm_param", new("across_spatial channel_shared eps", Inert: "scale_filler")),
        ["Permute"] = new("permute_param", new("order")),
        ["Flatten"] = new("flatten_param", new("axis end_axis")),
        ["Concat"] = new("concat_param", new("axis concat_dim")),
        ["Reshape"] = new("reshape_param", new("shape axis num_axes")),
        ["Softmax"] = new("softmax_param", new("axis", Inert: "engine")),
        ["BatchNorm"] = new("batch_norm_param", new("eps use_global_stats", Inert: "moving_average_fraction scale_filler bias_filler engine")),
        ["Scale"] = new("scale_param", new("axis num_axes bias_term", Inert: "filler bias_filler")),
        ["Eltwise"] = new("eltwise_param", new("operation coeff", Inert: "stable_prod_grad")),
        ["PriorBox"] = new("prior_box_param", new("min_size max_size aspect_ratio flip clip variance img_size img_h img_w step step_h step_w offset")),
        ["DetectionOutput"] = new("detection_output_param", new(
            "num_classes share_location background_label_id nms_param code_type variance_encoded_in_target keep_top_k confidence_threshold clip",
            Ignores: "save_output_param visualize visualize_threshold save_file")),
    };

    /// <summary>Schemas of the read fields that are messages, by path from the parameter block (or "net.").</summary>
    public static readonly IReadOnlyDictionary<string, Schema> Messages = new Dictionary<string, Schema>
    {
        ["input_param.shape"] = new("dim"),
        ["reshape_param.shape"] = new("dim"),
        ["detection_output_param.nms_param"] = new("nms_threshold top_k eta"),
        ["net.input_shape"] = new("dim"),
    };

    /// <summary>NetParameter's fields (the deploy file's top level).</summary>
    public static readonly Schema Net = new("name input input_shape input_dim layer layers", Inert: "force_backward state debug_info");

    /// <summary>
    /// LayerParameter's own fields. Parameter blocks of other layer types (weiliu89's transform_param on a
    /// DetectionOutput, a stray pooling_param on a Convolution) are valid Caffe that Ssd does not run: ignored and
    /// listed. Only names outside this list and <see cref="CaffeParamBlocks"/> are unknown.
    /// </summary>
    public static readonly Schema Layer = new("name type bottom top include exclude", Inert: "phase loss_weight param blobs propagate_down");

    /// <summary>Every parameter block name of caffe.proto's LayerParameter (BVLC master and weiliu89's SSD branch).</summary>
    public static readonly IReadOnlySet<string> CaffeParamBlocks = new HashSet<string>(
        ("transform_param loss_param accuracy_param argmax_param batch_norm_param bias_param concat_param contrastive_loss_param "
        + "convolution_param crop_param data_param dropout_param dummy_data_param eltwise_param elu_param embed_param exp_param "
        + "flatten_param hdf5_data_param hdf5_output_param hinge_loss_param image_data_param infogain_loss_param "
        + "inner_product_param input_param log_param lrn_param memory_data_param mvn_param parameter_param pooling_param "
        + "power_param prelu_param python_param recurrent_param reduction_param relu_param reshape_param scale_param "
        + "sigmoid_param softmax_param spp_param slice_param swish_param tanh_param threshold_param tile_param "
        + "window_data_param annotated_data_param detection_evaluate_param detection_output_param multibox_loss_param "
        + "norm_param permute_param prior_box_param video_data_param").Split(' '));
}

/// <summary>
/// Checks a deploy file's fields against <see cref="CaffeLayerFields"/> while the converter reads it, and records
/// what was ignored. Unknown fields throw InvalidDataException (naming the file, line, layer and field) unless
/// lenient, in which case they become <see cref="Warnings"/> and <see cref="Ignored"/> entries.
/// </summary>
internal sealed class CaffeFieldCheck(string source, bool lenient)
{
    private readonly List<string> ignored = [];
    private readonly List<string> warnings = [];

    /// <summary>What the conversion did not use, one line per layer ("layer 'x' (Type): field, field").</summary>
    public IReadOnlyList<string> Ignored => ignored;
    public IReadOnlyList<string> Warnings => warnings;

    public void Net(PrototxtMessage net)
    {
        var unused = new List<string>();
        Check(net, CaffeLayerFields.Net, "", "net.", "the net", unused);
        if (unused.Count > 0) ignored.Add($"net: {string.Join(", ", unused)}");
    }

    /// <summary>
    /// Checks a layer's own fields and its parameter block and returns the block (empty when absent: all defaults).
    /// A layer type without a row in the table is a programming error (InvalidOperationException).
    /// </summary>
    public PrototxtMessage Param(CaffeLayerDefinition layer)
    {
        if (!CaffeLayerFields.Layers.TryGetValue(layer.Type, out var fields))
            throw new InvalidOperationException($"layer type '{layer.Type}' has no row in CaffeLayerFields.Layers; add its known fields there");
        string where = $"{layer.Type} layer '{layer.Name}'";
        var unused = new List<string>();
        foreach (var f in layer.Message.Fields)
        {
            if (f.Name == fields.Param || CaffeLayerFields.Layer.ReadSet.Contains(f.Name) || CaffeLayerFields.Layer.InertSet.Contains(f.Name)) continue;
            if (CaffeLayerFields.CaffeParamBlocks.Contains(f.Name)) unused.Add(f.Name);
            else Unknown(f, where, "", CaffeLayerFields.Layer, unused);
        }
        var block = fields.Param is null ? new PrototxtMessage { Line = layer.Message.Line } : layer.Param(fields.Param);
        if (fields.Param is not null) Check(block, fields.Fields, fields.Param + ".", fields.Param + ".", where, unused);
        if (unused.Count > 0) ignored.Add($"layer '{layer.Name}' ({layer.Type}): {string.Join(", ", unused.Distinct())}");
        return block;
    }

    private void Check(PrototxtMessage message, CaffeLayerFields.Schema schema, string prefix, string path, string where, List<string> unused)
    {
        foreach (var f in message.Fields)
        {
            if (schema.ReadSet.Contains(f.Name))
            {
                if (f.Message is { } child && CaffeLayerFields.Messages.TryGetValue(path + f.Name, out var sub))
                    Check(child, sub, prefix + f.Name + ".", path + f.Name + ".", where, unused);
            }
            else if (schema.IgnoredSet.Contains(f.Name)) unused.Add(prefix + f.Name);
            else if (!schema.InertSet.Contains(f.Name)) Unknown(f, where, prefix, schema, unused);
        }
    }

    private void Unknown(PrototxtField f, string where, string prefix, CaffeLayerFields.Schema schema, List<string> unused)
    {
        var known = string.Join(", ", schema.ReadSet.Concat(schema.IgnoredSet).Concat(schema.InertSet).Order());
        string what = $"{source} line {f.Line}: {where}: unknown field '{prefix}{f.Name}' (known: {known})";
        if (!lenient) throw new InvalidDataException($"{what}; fix the deploy file, or convert with --lenient to ignore it");
        warnings.Add($"{what}; ignored (--lenient)");
        unused.Add($"{prefix}{f.Name} (unknown, line {f.Line})");
    }
}
