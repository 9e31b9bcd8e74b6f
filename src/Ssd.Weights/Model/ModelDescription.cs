using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ssd.Weights.Model;

/// <summary>Where a converted model came from; it decides the prior layout and the post-processing rules.</summary>
public enum ModelFlavor
{
    /// <summary>weiliu89's Caffe SSD (and OpenCV DNN running it): PriorBox and DetectionOutput.</summary>
    [JsonStringEnumMemberName("caffe")] Caffe,
    /// <summary>amdegroot's ssd.pytorch: its PriorBox and Detect.</summary>
    [JsonStringEnumMemberName("ssd.pytorch")] SsdPytorch,
    /// <summary>torchvision's ssd300_vgg16: DefaultBoxGenerator and SSD.postprocess_detections.</summary>
    [JsonStringEnumMemberName("torchvision")] Torchvision,
}

/// <summary>The channel order the network expects its input in.</summary>
public enum ChannelOrder
{
    /// <summary>Red, green, blue (the torch models).</summary>
    [JsonStringEnumMemberName("rgb")] Rgb,
    /// <summary>Blue, green, red (Caffe models, as cv2.imread gives them).</summary>
    [JsonStringEnumMemberName("bgr")] Bgr,
}

/// <summary>The range the 8-bit pixels are scaled to before the mean is subtracted.</summary>
public enum PixelRange
{
    /// <summary>The byte values as they are, 0 to 255.</summary>
    [JsonStringEnumMemberName("0..255")] Byte,
    /// <summary>Divided by 255: 0 to 1 (torchvision's ToTensor).</summary>
    [JsonStringEnumMemberName("0..1")] Unit,
}

/// <summary>How the image is resized to the network input (cv::resize INTER_LINEAR or F.interpolate bilinear).</summary>
public enum ResizeMethod
{
    /// <summary>cv::resize with INTER_LINEAR on 8-bit pixels (fixed-point weights, rounded to bytes).</summary>
    [JsonStringEnumMemberName("opencv-linear")] OpenCvLinear,
    /// <summary>torch.nn.functional.interpolate, mode bilinear, align_corners false, in float.</summary>
    [JsonStringEnumMemberName("torch-bilinear")] TorchBilinear,
}

/// <summary>
/// Preprocessing: the image is resized to Width x Height, put into ChannelOrder, scaled to PixelRange, and each
/// channel c becomes (pixel - Mean[c]) * Scale / Std[c], evaluated in that order in float (Mean and Std are in the
/// network's channel order). Scale is OpenCV blobFromImage's scale factor (applied after the mean: MobileNet-SSD's
/// 0.007843), Std torchvision's normalisation; each is exact when 1. The result is the NCHW tensor bound to the
/// blob named <see cref="Blob"/>.
/// </summary>
public sealed record InputSpec
{
    /// <summary>The name of the input blob the pre-processed tensor is bound to ("data" unless the checkpoint names another).</summary>
    public string Blob { get; init; } = "data";
    /// <summary>The network input width in pixels (300 for SSD300, 512 for SSD512); images are resized to it.</summary>
    public required int Width { get; init; }
    /// <summary>The network input height in pixels.</summary>
    public required int Height { get; init; }
    /// <summary>The number of input channels: 3.</summary>
    public int Channels { get; init; } = 3;
    /// <summary>The channel order of the input tensor.</summary>
    public required ChannelOrder ChannelOrder { get; init; }
    /// <summary>The per-channel mean subtracted, in <see cref="PixelRange"/> units and the network's channel order (one value per channel).</summary>
    public required float[] Mean { get; init; }
    /// <summary>The per-channel divisor applied after the mean (1 where the model has none), in the network's channel order.</summary>
    public required float[] Std { get; init; }
    /// <summary>A factor applied after the mean (OpenCV blobFromImage's scalefactor; 1 when absent).</summary>
    public float Scale { get; init; } = 1f;
    /// <summary>The range the 8-bit pixels are scaled to first.</summary>
    public required PixelRange PixelRange { get; init; }
    /// <summary>The resize algorithm, whose rounding the engine reproduces exactly.</summary>
    public required ResizeMethod Resize { get; init; }
}

/// <summary>
/// Default boxes of one source feature map, in Caffe PriorBox terms. The per-cell order is: each min size, then
/// sqrt(min*max) for the matching max size, then every aspect ratio r != 1 (and 1/r after it when Flip).
/// Step 0 means input size / feature map size; ImageWidth/Height 0 mean the input size.
/// </summary>
public sealed record PriorSpec
{
    /// <summary>The blob whose spatial size gives the feature map size.</summary>
    public required string Source { get; init; }
    /// <summary>The box sizes in input pixels, one or more; each gives a square box (and, with <see cref="MaxSizes"/>, the sqrt(min*max) box).</summary>
    public required float[] MinSizes { get; init; }
    /// <summary>The matching larger sizes in input pixels (empty, or one per min size).</summary>
    public float[] MaxSizes { get; init; } = [];
    /// <summary>Aspect ratios (width / height) besides 1, e.g. [2] or [2, 3].</summary>
    public float[] AspectRatios { get; init; } = [];
    /// <summary>Whether each aspect ratio r also gives a 1/r box (SSD: true).</summary>
    public bool Flip { get; init; } = true;
    /// <summary>Whether each prior is clipped to [0, 1] after it is computed.</summary>
    public bool Clip { get; init; }
    /// <summary>The four variances (x, y, w, h) stored with the priors (SSD: 0.1, 0.1, 0.2, 0.2).</summary>
    public float[] Variances { get; init; } = [0.1f, 0.1f, 0.2f, 0.2f];
    /// <summary>The horizontal distance between cell centres in input pixels (0: input width / map width).</summary>
    public float StepWidth { get; init; }
    /// <summary>The vertical distance between cell centres in input pixels (0: input height / map height).</summary>
    public float StepHeight { get; init; }
    /// <summary>Where in a cell its centre lies, as a fraction of the step (0.5: the middle).</summary>
    public float Offset { get; init; } = 0.5f;
    /// <summary>The image width the sizes are normalised by (0: the input width).</summary>
    public int ImageWidth { get; init; }
    /// <summary>The image height the sizes are normalised by (0: the input height).</summary>
    public int ImageHeight { get; init; }
}

/// <summary>
/// The priors of all source maps, concatenated in this order. Style says whose formula computes them (Caffe's
/// PriorBox in corner form; ssd.pytorch's PriorBox in center form; torchvision's DefaultBoxGenerator, which clips
/// widths and heights only) because the rounding and clipping differ in the last bits.
/// </summary>
public sealed record PriorConfig
{
    /// <summary>Whose prior formula computes the boxes.</summary>
    public required ModelFlavor Style { get; init; }
    /// <summary>One entry per source feature map, in concatenation order.</summary>
    public required PriorSpec[] Maps { get; init; }
}

/// <summary>
/// Decoding and non-maximum suppression. Style selects the reference algorithm: Caffe DetectionOutput (per-class
/// NMS over the TopK best, then KeepTopK overall), ssd.pytorch Detect, or torchvision SSD.postprocess_detections
/// (TopK candidates per class, batched NMS, KeepTopK per image). KeepTopK 0 means no overall limit.
/// </summary>
public sealed record PostProcessSpec
{
    /// <summary>Whose post-processing algorithm runs (Caffe DetectionOutput, ssd.pytorch Detect or torchvision postprocess_detections).</summary>
    public required ModelFlavor Style { get; init; }
    /// <summary>The number of classes including the background (21 for VOC, 91 for torchvision's COCO).</summary>
    public required int NumClasses { get; init; }
    /// <summary>The class index of the background, which is never reported (0 in every SSD).</summary>
    public int BackgroundId { get; init; }
    /// <summary>The score a detection needs, in [0, 1] (the flavour's own default, e.g. 0.01; the detector's options can override it).</summary>
    public required float ConfidenceThreshold { get; init; }
    /// <summary>The IoU above which non-maximum suppression removes the lower-scored box, in [0, 1] (0.45 in SSD).</summary>
    public required float NmsThreshold { get; init; }
    /// <summary>Candidates kept per class before NMS (Caffe nms top_k, ssd.pytorch top_k, torchvision topk_candidates).</summary>
    public required int TopK { get; init; }
    /// <summary>Detections kept per image after NMS (0: no limit).</summary>
    public int KeepTopK { get; init; }
    /// <summary>Center-size decoding variances (x, y, w, h); torchvision's box-coder weights are 1/variance.</summary>
    public float[] Variances { get; init; } = [0.1f, 0.1f, 0.2f, 0.2f];
    /// <summary>Whether the boxes are shared by all classes (4 offsets per prior); SSD: true, the only supported value.</summary>
    public bool ShareLocation { get; init; } = true;
    /// <summary>
    /// Caffe flavour: the decoded boxes are clipped to [0, 1] before NMS (OpenCV DNN's DetectionOutput option
    /// `clip`, set by OpenCV's res10_300x300 face detector). torchvision always clips to its input; ssd.pytorch never.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool Clip { get; init; }
    /// <summary>The box encoding: "CENTER_SIZE", the only supported value.</summary>
    public string CodeType { get; init; } = "CENTER_SIZE";
    /// <summary>One name per class index including the background, when known.</summary>
    public string[]? ClassNames { get; init; }
}

/// <summary>
/// The graph's two results: Loc [N, P*4] box offsets and Conf [N, P*NumClasses] scores (class probabilities when
/// ConfIsProbability, i.e. the graph ends in a softmax), both ordered prior by prior as the priors are.
/// </summary>
public sealed record OutputSpec
{
    /// <summary>The blob holding the box offsets, [N, P*4].</summary>
    public required string Loc { get; init; }
    /// <summary>The blob holding the class scores, [N, P*NumClasses].</summary>
    public required string Conf { get; init; }
    /// <summary>Whether <see cref="Conf"/> already holds probabilities (the graph ends in a softmax); otherwise logits.</summary>
    public bool ConfIsProbability { get; init; } = true;
}

/// <summary>
/// A converted SSD model: everything the engine needs besides the tensors. Layers run in list order; a blob name
/// may be rebound by an in-place layer (Caffe ReLU writes its input blob), so the order defines which value a name
/// holds. Tensors are referenced by name and stored beside this description in the model file.
/// </summary>
public sealed record ModelDescription
{
    /// <summary>The description format this version writes and reads.</summary>
    public const int CurrentFormatVersion = 1;

    /// <summary>The format version of the description (<see cref="CurrentFormatVersion"/>).</summary>
    public int FormatVersion { get; init; } = CurrentFormatVersion;
    /// <summary>The model's name (from the checkpoint, e.g. "VGG_VOC0712_SSD_300x300").</summary>
    public required string Name { get; init; }
    /// <summary>The flavour the model came from; it decides priors and post-processing.</summary>
    public required ModelFlavor Flavor { get; init; }
    /// <summary>The input size and pre-processing.</summary>
    public required InputSpec Input { get; init; }
    /// <summary>The layers in execution order.</summary>
    public required LayerSpec[] Layers { get; init; }
    /// <summary>The blobs holding the box offsets and the class scores.</summary>
    public required OutputSpec Outputs { get; init; }
    /// <summary>The default boxes.</summary>
    public required PriorConfig Priors { get; init; }
    /// <summary>Decoding and non-maximum suppression.</summary>
    public required PostProcessSpec PostProcess { get; init; }

    /// <summary>The JSON settings of the description (camelCase, enums as strings, required fields enforced); use them to read or write one yourself.</summary>
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        RespectRequiredConstructorParameters = true,
        // A null where the record says non-nullable (e.g. "outputs": null) is a JSON error, not a null reference later.
        RespectNullableAnnotations = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The description as indented JSON, as stored in the model file.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>
    /// Parses and validates a description (once; with <paramref name="tensorNames"/>, also that every tensor it
    /// references exists). Malformed JSON, a null or missing required field, or an invalid model gives
    /// InvalidDataException naming the problem.
    /// </summary>
    public static ModelDescription FromJson(string json, IReadOnlyCollection<string>? tensorNames = null)
    {
        // The strict form ToJson writes is read without the serializer (its reflection metadata is most of a detect
        // call's start-up); anything else, including every error, goes to the serializer as before.
        ModelDescription? d = DescriptionReader.TryRead(json);
        if (d is not null)
        {
            d.Validate(tensorNames);
            return d;
        }
        try { d = JsonSerializer.Deserialize<ModelDescription>(json, JsonOptions); }
        // NotSupportedException: a layer without (or before) its "type" discriminator. Messages quote the JSON: one line.
        catch (Exception e) when (e is JsonException or NotSupportedException)
        {
            throw new InvalidDataException($"model description: {ReaderErrors.Printable(e.Message, 300)}", e);
        }
        if (d is null) throw new InvalidDataException("model description: empty JSON");
        d.Validate(tensorNames);
        return d;
    }

    /// <summary>Checks the description for consistency (and, when given, that every referenced tensor exists).</summary>
    public void Validate(IReadOnlyCollection<string>? tensorNames = null) => ModelValidator.Validate(this, tensorNames);
}
