namespace Ssd.Kernels.Priors;

/// <summary>
/// One Caffe PriorBox layer (prior_box_param) on one feature map. Steps of 0 mean "image size / layer size".
/// The boxes follow OpenCV DNN's PriorBox, the reference the Caffe models are checked against: min_size and
/// max_size stay floats (weiliu89 Caffe truncates them to int, so its SSD512 uses 35 for 35.84; OpenCV does not).
/// </summary>
public sealed record CaffePriorBoxLayer(
    int LayerWidth, int LayerHeight,
    float[] MinSizes, float[] MaxSizes, float[] AspectRatios, bool Flip, bool Clip, float[] Variance,
    float StepW = 0f, float StepH = 0f, float Offset = 0.5f);

/// <summary>Caffe SSD priors: the PriorBox layers whose outputs the network concatenates (mbox_priorbox).</summary>
public sealed record CaffePriorConfig(int ImageWidth, int ImageHeight, CaffePriorBoxLayer[] Layers)
{
    private static readonly float[] Variance = [0.1f, 0.1f, 0.2f, 0.2f];

    private static CaffePriorBoxLayer Layer(int size, float min, float max, float[] ars, float step) =>
        new(size, size, [min], [max], ars, Flip: true, Clip: false, Variance, step, step);

    /// <summary>SSD300 VGG16 VOC0712 (ssd_pascal.py): conv4_3, fc7, conv6_2 .. conv9_2.</summary>
    public static CaffePriorConfig Ssd300Voc { get; } = new(300, 300,
    [
        Layer(38, 30, 60, [2], 8), Layer(19, 60, 111, [2, 3], 16), Layer(10, 111, 162, [2, 3], 32),
        Layer(5, 162, 213, [2, 3], 64), Layer(3, 213, 264, [2], 100), Layer(1, 264, 315, [2], 300),
    ]);

    /// <summary>SSD512 VGG16 VOC0712 (ssd_pascal_512.py): conv4_3 .. conv10_2.</summary>
    public static CaffePriorConfig Ssd512Voc { get; } = new(512, 512,
    [
        Layer(64, 35.84f, 76.8f, [2], 8), Layer(32, 76.8f, 153.6f, [2, 3], 16), Layer(16, 153.6f, 230.4f, [2, 3], 32),
        Layer(8, 230.4f, 307.2f, [2, 3], 64), Layer(4, 307.2f, 384f, [2, 3], 128), Layer(2, 384f, 460.8f, [2], 256),
        Layer(1, 460.8f, 537.6f, [2], 512),
    ]);
}

/// <summary>
/// ssd.pytorch's PriorBox config (data/config.py): square image, per feature map its size, step, min/max size and
/// extra aspect ratios (each giving two boxes). Output boxes are (cx, cy, w, h) normalised.
/// </summary>
public sealed record SsdPytorchPriorConfig(
    int ImageSize, int[] FeatureMaps, int[] Steps, double[] MinSizes, double[] MaxSizes, int[][] AspectRatios, bool Clip)
{
    /// <summary>ssd.pytorch's `voc` config (SSD300).</summary>
    public static SsdPytorchPriorConfig Ssd300Voc { get; } = new(300,
        [38, 19, 10, 5, 3, 1], [8, 16, 32, 64, 100, 300], [30, 60, 111, 162, 213, 264], [60, 111, 162, 213, 264, 315],
        [[2], [2, 3], [2, 3], [2, 3], [2], [2]], Clip: true);

    /// <summary>SSD512 in ssd.pytorch's form (it ships no 512 config): the Caffe SSD512 VOC geometry.</summary>
    public static SsdPytorchPriorConfig Ssd512Voc { get; } = new(512,
        [64, 32, 16, 8, 4, 2, 1], [8, 16, 32, 64, 128, 256, 512],
        [35.84, 76.8, 153.6, 230.4, 307.2, 384.0, 460.8], [76.8, 153.6, 230.4, 307.2, 384.0, 460.8, 537.6],
        [[2], [2, 3], [2, 3], [2, 3], [2, 3], [2], [2]], Clip: true);
}

/// <summary>
/// torchvision's DefaultBoxGenerator (0.14): per feature map its extra aspect ratios, the scales (one more than
/// the maps), optional steps, clip. Grid and image sizes come at generation time, as in its forward.
/// </summary>
public sealed record TorchvisionPriorConfig(int[][] AspectRatios, double[] Scales, int[]? Steps, bool Clip)
{
    /// <summary>Scales as DefaultBoxGenerator derives them from min_ratio/max_ratio when none are given.</summary>
    public static TorchvisionPriorConfig FromRatios(int[][] aspectRatios, double minRatio = 0.15, double maxRatio = 0.9, int[]? steps = null, bool clip = true)
    {
        int m = aspectRatios.Length;
        double[] scales;
        if (m > 1)
        {
            double range = maxRatio - minRatio;
            scales = new double[m + 1];
            for (int k = 0; k < m; k++) scales[k] = minRatio + range * k / (m - 1.0);
            scales[m] = 1.0;
        }
        else scales = [minRatio, maxRatio];
        return new TorchvisionPriorConfig(aspectRatios, scales, steps, clip);
    }

    /// <summary>torchvision's ssd300_vgg16 anchor generator.</summary>
    public static TorchvisionPriorConfig Ssd300 { get; } = new(
        [[2], [2, 3], [2, 3], [2, 3], [2], [2]], [0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05], [8, 16, 32, 64, 100, 300], Clip: true);

    /// <summary>The Caffe SSD512 geometry in DefaultBoxGenerator's form (torchvision ships no SSD512).</summary>
    public static TorchvisionPriorConfig Ssd512 { get; } = new(
        [[2], [2, 3], [2, 3], [2, 3], [2, 3], [2], [2]], [0.07, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 1.05], [8, 16, 32, 64, 128, 256, 512], Clip: true);

    /// <summary>Feature map sizes (square) of the SSD300 and SSD512 backbones.</summary>
    public static int[] Ssd300Grids { get; } = [38, 19, 10, 5, 3, 1];
    /// <summary>Feature map sizes (square) of the SSD512 backbone.</summary>
    public static int[] Ssd512Grids { get; } = [64, 32, 16, 8, 4, 2, 1];
}
