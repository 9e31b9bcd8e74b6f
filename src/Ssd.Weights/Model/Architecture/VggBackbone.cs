using Ssd.Weights.Caffe;
using Ssd.Weights.SafeTensors;
using Ssd.Weights.Tensors;
using Ssd.Weights.Torch;

namespace Ssd.Weights.Model.Architecture;

/// <summary>
/// The ImageNet-trained VGG-16 that an SSD's training starts from (the paper's base network, section 3), as each
/// reference publishes it, read by its layers' canonical names (conv1_1 .. conv5_3, fc6, fc7):
/// <list type="bullet">
/// <item>torchvision: a VGG-16 state_dict (`vgg16_features-amdegroot-88682ab5.pth`, the weights_backbone of
/// ssd300_vgg16): features.N for conv1_1 .. conv5_3; its classifier is not used (torchvision's fc6 and fc7 are new
/// layers);</item>
/// <item>ssd.pytorch: `vgg16_reducedfc.pth`, the state_dict of its vgg list: N for conv1_1 .. conv5_3 and the
/// reduced fc6 (31, dilated 3x3) and fc7 (33, 1x1);</item>
/// <item>Caffe: weiliu89's `VGG_ILSVRC_16_layers_fc_reduced.caffemodel`: layers conv1_1 .. conv5_3, fc6, fc7, each
/// blob 0 the weights and blob 1 the bias.</item>
/// </list>
/// torchvision's is trained on RGB in [0, 1] normalised by ImageNet's mean and std; ssd.pytorch's reduced VGG is
/// Caffe's, converted, trained on BGR in [0, 255] minus (104, 117, 123). So a backbone fits the flavours whose input
/// it was trained on (<see cref="Fits"/>): torchvision's the torchvision flavour, the other two ssd.pytorch's and
/// Caffe's.
/// </summary>
public static class VggBackbone
{
    /// <summary>Where the backbone comes from.</summary>
    public enum Origin
    {
        /// <summary>A torchvision VGG-16 state_dict (features.N).</summary>
        Torchvision,
        /// <summary>ssd.pytorch's vgg16_reducedfc.pth (N, fc6 and fc7 included).</summary>
        SsdPytorch,
        /// <summary>weiliu89's VGG_ILSVRC_16_layers_fc_reduced.caffemodel.</summary>
        Caffe,
    }

    /// <summary>A backbone: where it comes from and its layers' tensors by canonical name ("conv1_1.weight", ...).</summary>
    public sealed record Weights(Origin Origin, IReadOnlyDictionary<string, TensorData> Tensors);

    /// <summary>conv1_1 .. conv5_3 in order.</summary>
    public static readonly IReadOnlyList<string> Convolutions =
        ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3"];

    /// <summary>The positions of conv1_1 .. conv5_3 in VGG-16's nn.Sequential (torchvision's features, ssd.pytorch's vgg
    /// list: each conv followed by its ReLU, a max pool after each block), then ssd.pytorch's fc6 and fc7.</summary>
    private static readonly int[] Positions = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28];
    private const int Fc6Position = 31, Fc7Position = 33;

    /// <summary>Whether a backbone from <paramref name="origin"/> was trained on the input <paramref name="flavor"/> feeds.</summary>
    public static bool Fits(Origin origin, ModelFlavor flavor) =>
        origin == Origin.Torchvision ? flavor == ModelFlavor.Torchvision : flavor != ModelFlavor.Torchvision;

    /// <summary>
    /// Reads a backbone file: a PyTorch checkpoint (torchvision's VGG-16 or ssd.pytorch's vgg16_reducedfc; never
    /// executing code), a .caffemodel, or a safetensors file holding either state_dict. Throws InvalidDataException
    /// naming the file when it is none of these, or a layer is missing or not a convolution's weight and bias.
    /// </summary>
    public static Weights Read(string path, ReaderBudgets? budgets = null)
    {
        string name = Path.GetFileName(path);
        var kind = CheckpointFormat.Detect(path);
        if (kind == CheckpointKind.CaffeModel)
        {
            var layers = CaffemodelReader.ReadFile(path, budgets);
            var tensors = new Dictionary<string, TensorData>();
            foreach (var layer in Convolutions.Append("fc6").Append("fc7"))
            {
                if (!layers.TryGetValue(layer, out var blobs))
                {
                    if (layer is "fc6" or "fc7") continue;
                    throw new InvalidDataException($"{name}: no layer {layer}: not a VGG-16 (weiliu89's VGG_ILSVRC_16_layers_fc_reduced.caffemodel has conv1_1 .. conv5_3, fc6, fc7)");
                }
                if (blobs.Blobs.Count != 2) throw new InvalidDataException($"{name}: layer {layer} has {blobs.Blobs.Count} blobs, a convolution's weight and bias are 2");
                tensors[$"{layer}.weight"] = blobs.Blobs[0].Tensor;
                tensors[$"{layer}.bias"] = blobs.Blobs[1].Tensor;
            }
            return Checked(name, new Weights(Origin.Caffe, tensors));
        }
        IReadOnlyDictionary<string, TensorData> state = kind switch
        {
            CheckpointKind.TorchZip or CheckpointKind.TorchLegacy => TorchCheckpoint.Load(path, budgets),
            CheckpointKind.SafeTensors => SafeTensorsFile.Read(path, budgets).Tensors,
            _ => throw new InvalidDataException($"{name}: not a VGG-16 backbone: expected a PyTorch checkpoint (.pth), a .caffemodel or a .safetensors file"),
        };
        if (state.ContainsKey("features.0.weight"))
            return Checked(name, new Weights(Origin.Torchvision, ByPosition(name, state, "features.", withFc: false)));
        if (state.ContainsKey("0.weight"))
            return Checked(name, new Weights(Origin.SsdPytorch, ByPosition(name, state, "", withFc: true)));
        throw new InvalidDataException($"{name}: not a VGG-16 backbone: no features.0.weight (torchvision's VGG-16) or 0.weight (ssd.pytorch's vgg16_reducedfc.pth) among its {state.Count} tensors");
    }

    /// <summary>
    /// The backbone's tensors under <paramref name="flavor"/>'s names for them (its module paths, <see cref="VggSsd"/>),
    /// ready to replace an initialised model's. Throws InvalidDataException when the backbone was trained on another
    /// input than the flavour feeds (<see cref="Fits"/>).
    /// </summary>
    public static IReadOnlyDictionary<string, TensorData> ForModel(Weights backbone, ModelFlavor flavor)
    {
        if (!Fits(backbone.Origin, flavor))
            throw new InvalidDataException(backbone.Origin == Origin.Torchvision
                ? $"a torchvision VGG-16 (RGB in [0, 1], ImageNet's mean and std) does not fit the {flavor} flavour, which feeds BGR minus (104, 117, 123): use ssd.pytorch's vgg16_reducedfc.pth or Caffe's VGG_ILSVRC_16_layers_fc_reduced.caffemodel"
                : $"a {backbone.Origin} VGG-16 (BGR minus (104, 117, 123)) does not fit the torchvision flavour, which feeds RGB normalised by ImageNet's mean and std: use torchvision's vgg16_features-amdegroot-88682ab5.pth");
        var renamed = new Dictionary<string, TensorData>();
        foreach (var (key, tensor) in backbone.Tensors)
        {
            int dot = key.LastIndexOf('.');
            renamed[VggSsd.LayerName(flavor, key[..dot]) + key[dot..]] = tensor;
        }
        return renamed;
    }

    private static Dictionary<string, TensorData> ByPosition(string name, IReadOnlyDictionary<string, TensorData> state, string prefix, bool withFc)
    {
        var tensors = new Dictionary<string, TensorData>();
        var layers = Convolutions.Zip(Positions).ToList();
        if (withFc) layers.AddRange([("fc6", Fc6Position), ("fc7", Fc7Position)]);
        foreach (var (layer, at) in layers)
            foreach (var part in (string[])["weight", "bias"])
            {
                string key = $"{prefix}{at}.{part}";
                if (!state.TryGetValue(key, out var t)) throw new InvalidDataException($"{name}: no {key} ({layer}'s {part}): not a VGG-16 state_dict");
                tensors[$"{layer}.{part}"] = t;
            }
        return tensors;
    }

    /// <summary>Every layer a 4-d weight [out, in, k, k] and a bias [out], each layer's input the previous one's output.</summary>
    private static Weights Checked(string name, Weights w)
    {
        int? previous = null;
        foreach (var layer in Convolutions.Concat(w.Tensors.ContainsKey("fc6.weight") ? ["fc6", "fc7"] : []))
        {
            var weight = w.Tensors[$"{layer}.weight"].Shape;
            var bias = w.Tensors[$"{layer}.bias"].Shape;
            if (weight.Length != 4 || weight[2] != weight[3] || bias.Length != 1 || bias[0] != weight[0])
                throw new InvalidDataException($"{name}: {layer} has weight [{string.Join(", ", weight)}] and bias [{string.Join(", ", bias)}]: not a convolution's");
            if (previous is { } p && weight[1] != p)
                throw new InvalidDataException($"{name}: {layer} takes {weight[1]} channels, the layer before gives {p}");
            previous = weight[0];
        }
        return w;
    }
}
