using System.Globalization;
using Ssd.Engine.Graph;
using Ssd.Kernels.Priors;
using Ssd.Weights.Model;

namespace Ssd.Engine.Network;

/// <summary>The default boxes, P of them, four numbers each in the style's own form (Caffe: corners in 0..1 with
/// per-box variances; ssd.pytorch: centre-size in 0..1; torchvision: corners in input pixels).</summary>
public sealed record PriorBoxes(ModelFlavor Style, float[] Boxes, float[]? Variances)
{
    /// <summary>How many priors.</summary>
    public int Count => Boxes.Length / 4;

    /// <summary>From the backends' flat layout: Caffe's is two planes, the boxes then the variances.</summary>
    public static PriorBoxes FromFlat(ModelFlavor style, float[] flat) => style == ModelFlavor.Caffe
        ? new(style, flat[..(flat.Length / 2)], flat[(flat.Length / 2)..])
        : new(style, flat, null);

    /// <summary>Floats per prior in the flat layout (Caffe 8: box and variances; the others 4).</summary>
    public static int FlatFloatsPerPrior(ModelFlavor style) => style == ModelFlavor.Caffe ? 8 : 4;

    /// <summary>The flat layout the post-processors take (Caffe [2, P*4]; the others [P, 4]).</summary>
    public float[] Flat => Variances is null ? Boxes : [.. Boxes, .. Variances];
}

/// <summary>
/// A model's <see cref="PriorConfig"/> for one input size, mapped to the config type of the Priors op family for
/// its style. Feature-map sizes come from the plan's source blobs, so the priors follow the input size.
/// </summary>
public sealed record PriorRequest(ModelFlavor Style, CaffePriorConfig? Caffe, SsdPytorchPriorConfig? SsdPytorch,
    TorchvisionPriorConfig? Torchvision, (int H, int W)[] Grids, int ImageWidth, int ImageHeight)
{
    /// <summary>The request for <paramref name="config"/> at the plan's input size (feature maps from its source blobs).</summary>
    public static PriorRequest Create(PriorConfig config, ExecutionPlan plan)
    {
        int imageW = plan.Input.Shape[3], imageH = plan.Input.Shape[2];
        var grids = config.Maps.Select(m =>
        {
            var s = plan.Blob(m.Source).Shape;
            if (s.Length != 4) throw new InvalidDataException($"prior source '{m.Source}' has shape [{string.Join(", ", s)}], not NCHW");
            return (s[2], s[3]);
        }).ToArray();
        switch (config.Style)
        {
            case ModelFlavor.Caffe:
            {
                var sizes = config.Maps.Select(m => (W: m.ImageWidth == 0 ? imageW : m.ImageWidth, H: m.ImageHeight == 0 ? imageH : m.ImageHeight)).Distinct().ToList();
                if (sizes.Count != 1) throw new InvalidDataException("Caffe prior maps name different image sizes; the engine supports one");
                var layers = config.Maps.Select((m, i) => new CaffePriorBoxLayer(grids[i].Item2, grids[i].Item1, m.MinSizes, m.MaxSizes, m.AspectRatios,
                    m.Flip, m.Clip, m.Variances, m.StepWidth, m.StepHeight, m.Offset)).ToArray();
                return new PriorRequest(config.Style, new CaffePriorConfig(sizes[0].W, sizes[0].H, layers), null, null, grids, sizes[0].W, sizes[0].H);
            }
            case ModelFlavor.SsdPytorch:
            {
                if (imageW != imageH || grids.Any(g => g.Item1 != g.Item2))
                    throw new InvalidDataException($"ssd.pytorch priors need a square input and square feature maps; input is {imageW}x{imageH}");
                var m = config.Maps;
                if (m.Any(s => s.MinSizes.Length != 1 || s.MaxSizes.Length != 1))
                    throw new InvalidDataException("ssd.pytorch priors need exactly one min and one max size per map");
                var c = new SsdPytorchPriorConfig(imageW, grids.Select(g => g.Item1).ToArray(), m.Select(s => Integer(s.StepWidth, "step")).ToArray(),
                    m.Select(s => Decimal(s.MinSizes[0])).ToArray(), m.Select(s => Decimal(s.MaxSizes[0])).ToArray(),
                    m.Select(s => s.AspectRatios.Select(a => Integer(a, "aspect ratio")).ToArray()).ToArray(), m.Any(s => s.Clip));
                return new PriorRequest(config.Style, null, c, null, grids, imageW, imageH);
            }
            case ModelFlavor.Torchvision:
            {
                // torchvision's scales are fractions of the image; the description stores them as sizes in pixels of
                // the reference image (ImageWidth, else the input width): s_k = min_k / size, and the last max gives s_m+1.
                var m = config.Maps;
                if (m.Any(s => s.MinSizes.Length != 1 || s.MaxSizes.Length != 1))
                    throw new InvalidDataException("torchvision priors need exactly one min and one max size per map");
                double reference = m[0].ImageWidth == 0 ? imageW : m[0].ImageWidth;
                var scales = m.Select(s => Decimal((float)(s.MinSizes[0] / reference))).Append(Decimal((float)(m[^1].MaxSizes[0] / reference))).ToArray();
                bool steps = m.All(s => s.StepWidth > 0);
                var c = new TorchvisionPriorConfig(m.Select(s => s.AspectRatios.Select(a => Integer(a, "aspect ratio")).ToArray()).ToArray(), scales,
                    steps ? m.Select(s => Integer(s.StepWidth, "step")).ToArray() : null, m.Any(s => s.Clip));
                return new PriorRequest(config.Style, null, null, c, grids, imageW, imageH);
            }
            default:
                throw new InvalidDataException($"unknown prior style {config.Style}");
        }
    }

    /// <summary>The plain C# reference of the Priors family, in the backends' flat layout (Caffe: boxes, then variances).</summary>
    public float[] ComputeReference() => Style switch
    {
        ModelFlavor.Caffe => PriorReference.Caffe(Caffe!),
        ModelFlavor.SsdPytorch => PriorReference.SsdPytorch(SsdPytorch!),
        _ => PriorReference.Torchvision(Torchvision!, Grids, ImageHeight, ImageWidth),
    };

    /// <summary>The decimal number a float was written as (0.07f -> 0.07): the configs of ssd.pytorch and torchvision
    /// are Python doubles, and the description stores floats.</summary>
    private static double Decimal(float v) => double.Parse(v.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    private static int Integer(float v, string what) => v == MathF.Round(v) && v > 0 ? (int)v
        : throw new InvalidDataException($"prior {what} {v} must be a positive integer for this style");
}
