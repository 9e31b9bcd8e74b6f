namespace Ssd.Kernels.Priors;

/// <summary>
/// One feature map's priors as the kernels see them: where its priors start, its grid, the distance between cell
/// centres (a step for Caffe, the cell count per image f_k for ssd.pytorch and torchvision), and where its
/// per-cell box shapes (w, h pairs) start in the shape table.
/// </summary>
public readonly record struct PriorLayer(
    int FirstPrior, int Width, int Height, int PriorsPerCell, int FirstShape,
    double StepX, double StepY, float Offset, int Clip, int ImageWidth, int ImageHeight,
    float Variance0, float Variance1, float Variance2, float Variance3);

/// <summary>The layer table and the box shapes (w, h pairs, in the flavour's units) a prior kernel reads.</summary>
internal sealed record PriorTable(PriorLayer[] Layers, double[] Shapes)
{
    public int Count => Layers.Length == 0 ? 0 : Layers[^1].FirstPrior + Layers[^1].Width * Layers[^1].Height * Layers[^1].PriorsPerCell;

    /// <summary>Caffe: box sizes in pixels (float) as OpenCV DNN's PriorBox computes them.</summary>
    public static PriorTable Caffe(CaffePriorConfig config)
    {
        PriorValidation.Check(config);
        var layers = new List<PriorLayer>();
        var shapes = new List<double>();
        int first = 0;
        foreach (var l in config.Layers)
        {
            var ratios = ExpandCaffeRatios(l.AspectRatios, l.Flip);
            int firstShape = shapes.Count / 2;
            for (int s = 0; s < l.MinSizes.Length; s++)
            {
                float min = l.MinSizes[s]; // float, as OpenCV's PriorBox (no int truncation)
                shapes.AddRange([min, min]);
                if (l.MaxSizes.Length > 0)
                {
                    float size = MathF.Sqrt(min * l.MaxSizes[s]);
                    shapes.AddRange([size, size]);
                }
                foreach (float ar in ratios.Skip(1))
                    shapes.AddRange([min * MathF.Sqrt(ar), min / MathF.Sqrt(ar)]);
            }
            int k = shapes.Count / 2 - firstShape;
            bool defaultStep = l.StepW == 0 || l.StepH == 0;
            float stepW = defaultStep ? (float)config.ImageWidth / l.LayerWidth : l.StepW;
            float stepH = defaultStep ? (float)config.ImageHeight / l.LayerHeight : l.StepH;
            float[] v = l.Variance.Length == 1 ? [l.Variance[0], l.Variance[0], l.Variance[0], l.Variance[0]] : l.Variance;
            layers.Add(new PriorLayer(first, l.LayerWidth, l.LayerHeight, k, firstShape, stepW, stepH, l.Offset, l.Clip ? 1 : 0,
                config.ImageWidth, config.ImageHeight, v[0], v[1], v[2], v[3]));
            first += l.LayerWidth * l.LayerHeight * k;
        }
        return new PriorTable([.. layers], [.. shapes]);
    }

    /// <summary>Caffe's LayerSetUp: 1, then each new ratio (within 1e-6) followed by its inverse when flipping.</summary>
    private static List<float> ExpandCaffeRatios(float[] ratios, bool flip)
    {
        var list = new List<float> { 1f };
        foreach (float ar in ratios)
        {
            if (list.Exists(r => Math.Abs(ar - r) < 1e-6)) continue;
            list.Add(ar);
            if (flip) list.Add((float)(1.0 / ar));
        }
        return list;
    }

    /// <summary>ssd.pytorch: normalised sizes in double; StepX = f_k = image / step.</summary>
    public static PriorTable SsdPytorch(SsdPytorchPriorConfig config)
    {
        PriorValidation.Check(config);
        var layers = new List<PriorLayer>();
        var shapes = new List<double>();
        int first = 0;
        for (int k = 0; k < config.FeatureMaps.Length; k++)
        {
            int firstShape = shapes.Count / 2;
            double sk = config.MinSizes[k] / config.ImageSize;
            double skPrime = Math.Sqrt(sk * (config.MaxSizes[k] / config.ImageSize));
            shapes.AddRange([sk, sk, skPrime, skPrime]);
            foreach (int ar in config.AspectRatios[k])
                shapes.AddRange([sk * Math.Sqrt(ar), sk / Math.Sqrt(ar), sk / Math.Sqrt(ar), sk * Math.Sqrt(ar)]);
            int count = shapes.Count / 2 - firstShape, f = config.FeatureMaps[k];
            double fk = (double)config.ImageSize / config.Steps[k];
            layers.Add(new PriorLayer(first, f, f, count, firstShape, fk, fk, 0.5f, config.Clip ? 1 : 0,
                config.ImageSize, config.ImageSize, 0, 0, 0, 0));
            first += f * f * count;
        }
        return new PriorTable([.. layers], [.. shapes]);
    }

    /// <summary>torchvision: float32 (w, h) pairs, clamped to [0, 1] when clipping; StepX = x_f_k.</summary>
    public static PriorTable Torchvision(TorchvisionPriorConfig config, (int H, int W)[] grids, int imageHeight, int imageWidth)
    {
        PriorValidation.Check(config, grids, imageHeight, imageWidth);
        var layers = new List<PriorLayer>();
        var shapes = new List<double>();
        int first = 0;
        for (int k = 0; k < grids.Length; k++)
        {
            int firstShape = shapes.Count / 2;
            double s = config.Scales[k], sPrime = Math.Sqrt(config.Scales[k] * config.Scales[k + 1]);
            var pairs = new List<(float, float)> { ((float)s, (float)s), ((float)sPrime, (float)sPrime) };
            foreach (int ar in config.AspectRatios[k])
            {
                double sq = Math.Sqrt(ar);
                pairs.Add(((float)(s * sq), (float)(s / sq)));
                pairs.Add(((float)(s / sq), (float)(s * sq)));
            }
            foreach (var (w, h) in pairs)
                shapes.AddRange(config.Clip ? [Math.Clamp(w, 0f, 1f), Math.Clamp(h, 0f, 1f)] : [w, h]);
            int count = pairs.Count;
            var (gh, gw) = grids[k];
            double xfk = config.Steps is null ? gw : (double)imageWidth / config.Steps[k];
            double yfk = config.Steps is null ? gh : (double)imageHeight / config.Steps[k];
            layers.Add(new PriorLayer(first, gw, gh, count, firstShape, xfk, yfk, 0.5f, 0, imageWidth, imageHeight, 0, 0, 0, 0));
            first += gw * gh * count;
        }
        return new PriorTable([.. layers], [.. shapes]);
    }
}
