namespace Ssd.Kernels.Priors;

/// <summary>
/// Plain C# default boxes, written as loops in the peer libraries' order and arithmetic (float where they use
/// float, double where they use double), so results are bit-exact with them.
/// </summary>
public static class PriorReference
{
    /// <summary>
    /// Caffe PriorBox layers as OpenCV DNN's PriorBox computes them (the reference Caffe SSD models are checked
    /// against), concatenated: [2, P*4] as one array, boxes (xmin, ymin, xmax, ymax, normalised)
    /// of all layers first, then the per-coordinate variances.
    /// </summary>
    public static float[] Caffe(CaffePriorConfig config)
    {
        PriorValidation.Check(config);
        var boxes = new List<float>();
        var variances = new List<float>();
        foreach (var layer in config.Layers)
        {
            // Aspect ratios as Caffe's LayerSetUp expands them: 1 first, then each new ratio and (flip) its inverse.
            var ratios = new List<float> { 1f };
            foreach (float ar in layer.AspectRatios)
            {
                if (ratios.Any(r => Math.Abs(ar - r) < 1e-6)) continue;
                ratios.Add(ar);
                if (layer.Flip) ratios.Add((float)(1.0 / ar));
            }
            int imgW = config.ImageWidth, imgH = config.ImageHeight;
            float stepW = layer.StepW, stepH = layer.StepH;
            if (stepW == 0 || stepH == 0)
            {
                stepW = (float)imgW / layer.LayerWidth;
                stepH = (float)imgH / layer.LayerHeight;
            }
            int start = boxes.Count;
            void Emit(float cx, float cy, float bw, float bh)
            {
                // OpenCV's addPrior: all float, (center - size * 0.5f) / image size.
                boxes.Add((cx - bw * 0.5f) / imgW);
                boxes.Add((cy - bh * 0.5f) / imgH);
                boxes.Add((cx + bw * 0.5f) / imgW);
                boxes.Add((cy + bh * 0.5f) / imgH);
            }
            for (int h = 0; h < layer.LayerHeight; h++)
                for (int w = 0; w < layer.LayerWidth; w++)
                {
                    float cx = (w + layer.Offset) * stepW;
                    float cy = (h + layer.Offset) * stepH;
                    for (int s = 0; s < layer.MinSizes.Length; s++)
                    {
                        // OpenCV keeps the sizes as floats (35.84 stays 35.84; weiliu89 Caffe truncates to int).
                        float minSize = layer.MinSizes[s];
                        Emit(cx, cy, minSize, minSize);
                        if (layer.MaxSizes.Length > 0)
                        {
                            float size = MathF.Sqrt(minSize * layer.MaxSizes[s]);
                            Emit(cx, cy, size, size);
                        }
                        foreach (float ar in ratios)
                        {
                            if (Math.Abs(ar - 1.0) < 1e-6) continue;
                            float sq = MathF.Sqrt(ar);
                            Emit(cx, cy, minSize * sq, minSize / sq);
                        }
                    }
                }
            if (layer.Clip)
                for (int d = start; d < boxes.Count; d++) boxes[d] = Math.Min(Math.Max(boxes[d], 0f), 1f);
            for (int d = start; d < boxes.Count; d++)
                variances.Add(layer.Variance.Length == 1 ? layer.Variance[0] : layer.Variance[(d - start) % 4]);
        }
        return [.. boxes, .. variances];
    }

    /// <summary>ssd.pytorch's PriorBox.forward: [P, 4] (cx, cy, w, h) normalised, computed in double, stored float.</summary>
    public static float[] SsdPytorch(SsdPytorchPriorConfig config)
    {
        PriorValidation.Check(config);
        var mean = new List<double>();
        for (int k = 0; k < config.FeatureMaps.Length; k++)
        {
            int f = config.FeatureMaps[k];
            for (int i = 0; i < f; i++)
                for (int j = 0; j < f; j++)
                {
                    double fk = (double)config.ImageSize / config.Steps[k];
                    double cx = (j + 0.5) / fk, cy = (i + 0.5) / fk;
                    double sk = config.MinSizes[k] / config.ImageSize;
                    mean.AddRange([cx, cy, sk, sk]);
                    double skPrime = Math.Sqrt(sk * (config.MaxSizes[k] / config.ImageSize));
                    mean.AddRange([cx, cy, skPrime, skPrime]);
                    foreach (int ar in config.AspectRatios[k])
                    {
                        mean.AddRange([cx, cy, sk * Math.Sqrt(ar), sk / Math.Sqrt(ar)]);
                        mean.AddRange([cx, cy, sk / Math.Sqrt(ar), sk * Math.Sqrt(ar)]);
                    }
                }
        }
        var output = mean.Select(v => (float)v).ToArray();
        if (config.Clip)
            for (int i = 0; i < output.Length; i++) output[i] = Math.Clamp(output[i], 0f, 1f);
        return output;
    }

    /// <summary>
    /// torchvision's DefaultBoxGenerator.forward for one image: [P, 4] (x1, y1, x2, y2) in pixels.
    /// <paramref name="grids"/> are the feature maps' (height, width).
    /// </summary>
    public static float[] Torchvision(TorchvisionPriorConfig config, (int H, int W)[] grids, int imageHeight, int imageWidth)
    {
        PriorValidation.Check(config, grids, imageHeight, imageWidth);
        var output = new List<float>();
        for (int k = 0; k < grids.Length; k++)
        {
            // _generate_wh_pairs: python doubles, then a float32 tensor.
            var wh = new List<(float W, float H)>();
            double sk = config.Scales[k], skPrime = Math.Sqrt(config.Scales[k] * config.Scales[k + 1]);
            wh.Add(((float)sk, (float)sk));
            wh.Add(((float)skPrime, (float)skPrime));
            foreach (int ar in config.AspectRatios[k])
            {
                double sq = Math.Sqrt(ar);
                double w = config.Scales[k] * sq, h = config.Scales[k] / sq;
                wh.Add(((float)w, (float)h));
                wh.Add(((float)h, (float)w));
            }
            if (config.Clip) wh = wh.Select(p => (Math.Clamp(p.W, 0f, 1f), Math.Clamp(p.H, 0f, 1f))).ToList();

            // _grid_default_boxes: (arange + 0.5) is float32, divided by the python-double f_k as a float32 op.
            var (gh, gw) = grids[k];
            double xfk = config.Steps is null ? gw : (double)imageWidth / config.Steps[k];
            double yfk = config.Steps is null ? gh : (double)imageHeight / config.Steps[k];
            float sizeX = imageWidth, sizeY = imageHeight;
            for (int y = 0; y < gh; y++)
                for (int x = 0; x < gw; x++)
                {
                    float cx = (x + 0.5f) / (float)xfk, cy = (y + 0.5f) / (float)yfk;
                    foreach (var (w, h) in wh)
                    {
                        // forward: (c - 0.5 * wh) * size and (c + 0.5 * wh) * size, all float32.
                        output.Add((cx - 0.5f * w) * sizeX);
                        output.Add((cy - 0.5f * h) * sizeY);
                        output.Add((cx + 0.5f * w) * sizeX);
                        output.Add((cy + 0.5f * h) * sizeY);
                    }
                }
        }
        return output.ToArray();
    }
}
