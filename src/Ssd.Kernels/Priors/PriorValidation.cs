namespace Ssd.Kernels.Priors;

/// <summary>Checks prior configs and names the bad field, as the peer libraries' own checks would.</summary>
internal static class PriorValidation
{
    public static void Check(CaffePriorConfig c)
    {
        if (c.ImageWidth <= 0 || c.ImageHeight <= 0) throw new ArgumentException($"priors: image size {c.ImageWidth}x{c.ImageHeight} is not positive");
        if (c.Layers.Length == 0) throw new ArgumentException("priors: no PriorBox layers");
        for (int i = 0; i < c.Layers.Length; i++)
        {
            var l = c.Layers[i];
            string at = $"priors: PriorBox layer {i}";
            if (l.LayerWidth <= 0 || l.LayerHeight <= 0) throw new ArgumentException($"{at}: feature map {l.LayerWidth}x{l.LayerHeight} is not positive");
            if (l.MinSizes.Length == 0) throw new ArgumentException($"{at}: must provide min_size");
            if (l.MinSizes.Any(m => !(m >= 1))) throw new ArgumentException($"{at}: min_size must be at least 1 (Caffe truncates it to int)");
            if (l.MaxSizes.Length > 0 && l.MaxSizes.Length != l.MinSizes.Length)
                throw new ArgumentException($"{at}: {l.MaxSizes.Length} max_size for {l.MinSizes.Length} min_size");
            for (int s = 0; s < l.MaxSizes.Length; s++)
                if (!(l.MaxSizes[s] > l.MinSizes[s])) throw new ArgumentException($"{at}: max_size must be greater than min_size");
            if (l.AspectRatios.Any(a => !(a > 0))) throw new ArgumentException($"{at}: aspect ratios must be positive");
            if (l.Variance.Length is not (1 or 4)) throw new ArgumentException($"{at}: variance needs 1 or 4 values, got {l.Variance.Length}");
            if (l.StepW < 0 || l.StepH < 0) throw new ArgumentException($"{at}: step is negative");
        }
    }

    public static void Check(SsdPytorchPriorConfig c)
    {
        int n = c.FeatureMaps.Length;
        if (c.ImageSize <= 0) throw new ArgumentException($"priors: image size {c.ImageSize} is not positive");
        if (n == 0) throw new ArgumentException("priors: no feature maps");
        if (c.Steps.Length != n || c.MinSizes.Length != n || c.MaxSizes.Length != n || c.AspectRatios.Length != n)
            throw new ArgumentException($"priors: {n} feature maps but {c.Steps.Length} steps, {c.MinSizes.Length} min_sizes, {c.MaxSizes.Length} max_sizes, {c.AspectRatios.Length} aspect_ratios");
        if (c.FeatureMaps.Any(f => f <= 0) || c.Steps.Any(s => s <= 0)) throw new ArgumentException("priors: feature map sizes and steps must be positive");
        if (c.AspectRatios.Any(a => a.Any(r => r <= 0))) throw new ArgumentException("priors: aspect ratios must be positive");
    }

    public static void Check(TorchvisionPriorConfig c, (int H, int W)[] grids, int imageHeight, int imageWidth)
    {
        int n = c.AspectRatios.Length;
        if (imageHeight <= 0 || imageWidth <= 0) throw new ArgumentException($"priors: image size {imageHeight}x{imageWidth} is not positive");
        if (grids.Length != n) throw new ArgumentException($"priors: {grids.Length} feature maps but {n} aspect ratio lists");
        if (c.Steps is not null && c.Steps.Length != n) throw new ArgumentException("aspect_ratios and steps should have the same length");
        if (c.Scales.Length < n + 1) throw new ArgumentException($"priors: {n} feature maps need {n + 1} scales, got {c.Scales.Length}");
        if (grids.Any(g => g.H <= 0 || g.W <= 0)) throw new ArgumentException("priors: feature map sizes must be positive");
        if (c.Steps?.Any(s => s <= 0) == true) throw new ArgumentException("priors: steps must be positive");
        if (c.AspectRatios.Any(a => a.Any(r => r <= 0))) throw new ArgumentException("priors: aspect ratios must be positive");
    }
}
