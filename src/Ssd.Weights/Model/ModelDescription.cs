using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ssd.Weights.Model;

/// <summary>Where a converted model came from; it decides the prior layout and the post-processing rules.</summary>
public enum ModelFlavor
{
    [JsonStringEnumMemberName("caffe")] Caffe,
    [JsonStringEnumMemberName("ssd.pytorch")] SsdPytorch,
    [JsonStringEnumMemberName("torchvision")] Torchvision,
}

public enum ChannelOrder { [JsonStringEnumMemberName("rgb")] Rgb, [JsonStringEnumMemberName("bgr")] Bgr }

/// <summary>The range the 8-bit pixels are scaled to before the mean is subtracted.</summary>
public enum PixelRange { [JsonStringEnumMemberName("0..255")] Byte, [JsonStringEnumMemberName("0..1")] Unit }

/// <summary>How the image is resized to the network input (cv::resize INTER_LINEAR or F.interpolate bilinear).</summary>
public enum ResizeMethod { [JsonStringEnumMemberName("opencv-linear")] OpenCvLinear, [JsonStringEnumMemberName("torch-bilinear")] TorchBilinear }

/// <summary>
/// Preprocessing: the image is resized to Width x Height, put into ChannelOrder, scaled to PixelRange, and each
/// channel c becomes (pixel - Mean[c]) * Scale / Std[c], evaluated in that order in float (Mean and Std are in the
/// network's channel order). Scale is OpenCV blobFromImage's scale factor (applied after the mean: MobileNet-SSD's
/// 0.007843), Std torchvision's normalisation; each is exact when 1. The result is the NCHW tensor bound to the
/// blob named <see cref="Blob"/>.
/// </summary>
public sealed record InputSpec
{
    public string Blob { get; init; } = "data";
    public required int Width { get; init; }
    public required int Height { get; init; }
    public int Channels { get; init; } = 3;
    public required ChannelOrder ChannelOrder { get; init; }
    public required float[] Mean { get; init; }
    public required float[] Std { get; init; }
    public float Scale { get; init; } = 1f;
    public required PixelRange PixelRange { get; init; }
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
    public required float[] MinSizes { get; init; }
    public float[] MaxSizes { get; init; } = [];
    public float[] AspectRatios { get; init; } = [];
    public bool Flip { get; init; } = true;
    public bool Clip { get; init; }
    public float[] Variances { get; init; } = [0.1f, 0.1f, 0.2f, 0.2f];
    public float StepWidth { get; init; }
    public float StepHeight { get; init; }
    public float Offset { get; init; } = 0.5f;
    public int ImageWidth { get; init; }
    public int ImageHeight { get; init; }
}

/// <summary>
/// The priors of all source maps, concatenated in this order. Style says whose formula computes them (Caffe's
/// PriorBox in corner form; ssd.pytorch's PriorBox in center form; torchvision's DefaultBoxGenerator, which clips
/// widths and heights only) because the rounding and clipping differ in the last bits.
/// </summary>
public sealed record PriorConfig
{
    public required ModelFlavor Style { get; init; }
    public required PriorSpec[] Maps { get; init; }
}

/// <summary>
/// Decoding and non-maximum suppression. Style selects the reference algorithm: Caffe DetectionOutput (per-class
/// NMS over the TopK best, then KeepTopK overall), ssd.pytorch Detect, or torchvision SSD.postprocess_detections
/// (TopK candidates per class, batched NMS, KeepTopK per image). KeepTopK 0 means no overall limit.
/// </summary>
public sealed record PostProcessSpec
{
    public required ModelFlavor Style { get; init; }
    public required int NumClasses { get; init; }
    public int BackgroundId { get; init; }
    public required float ConfidenceThreshold { get; init; }
    public required float NmsThreshold { get; init; }
    public required int TopK { get; init; }
    public int KeepTopK { get; init; }
    /// <summary>Center-size decoding variances (x, y, w, h); torchvision's box-coder weights are 1/variance.</summary>
    public float[] Variances { get; init; } = [0.1f, 0.1f, 0.2f, 0.2f];
    public bool ShareLocation { get; init; } = true;
    /// <summary>
    /// Caffe flavour: the decoded boxes are clipped to [0, 1] before NMS (OpenCV DNN's DetectionOutput option
    /// `clip`, set by OpenCV's res10_300x300 face detector). torchvision always clips to its input; ssd.pytorch never.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool Clip { get; init; }
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
    public required string Loc { get; init; }
    public required string Conf { get; init; }
    public bool ConfIsProbability { get; init; } = true;
}

/// <summary>
/// A converted SSD model: everything the engine needs besides the tensors. Layers run in list order; a blob name
/// may be rebound by an in-place layer (Caffe ReLU writes its input blob), so the order defines which value a name
/// holds. Tensors are referenced by name and stored beside this description in the model file.
/// </summary>
public sealed record ModelDescription
{
    public const int CurrentFormatVersion = 1;

    public int FormatVersion { get; init; } = CurrentFormatVersion;
    public required string Name { get; init; }
    public required ModelFlavor Flavor { get; init; }
    public required InputSpec Input { get; init; }
    public required LayerSpec[] Layers { get; init; }
    public required OutputSpec Outputs { get; init; }
    public required PriorConfig Priors { get; init; }
    public required PostProcessSpec PostProcess { get; init; }

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

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>
    /// Parses and validates a description (once; with <paramref name="tensorNames"/>, also that every tensor it
    /// references exists). Malformed JSON, a null or missing required field, or an invalid model gives
    /// InvalidDataException naming the problem.
    /// </summary>
    public static ModelDescription FromJson(string json, IReadOnlyCollection<string>? tensorNames = null)
    {
        ModelDescription? d;
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
