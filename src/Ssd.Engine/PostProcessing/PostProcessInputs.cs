using Ssd.Kernels.Softmax;

namespace Ssd.Engine.PostProcessing;

/// <summary>Shape checks and score preparation shared by the flavours.</summary>
internal static class PostProcessInputs
{
    /// <summary>Checks loc / conf against P priors and C classes; returns the image count.</summary>
    public static int Images(ReadOnlySpan<float> loc, ReadOnlySpan<float> conf, int priors, int classes, int sizes, string who)
    {
        if (loc.Length == 0 || loc.Length % (4 * priors) != 0)
            throw new ArgumentException($"{who}: {loc.Length} location floats are not N x {priors} priors x 4");
        int n = loc.Length / (4 * priors);
        if (conf.Length != (long)n * priors * classes)
            throw new ArgumentException($"{who}: {conf.Length} confidence floats, expected {n} x {priors} x {classes}");
        if (sizes != n) throw new ArgumentException($"{who}: {sizes} image sizes for {n} images");
        return n;
    }

    /// <summary>Class probabilities of one image [P, C]: a copy, or a row softmax of logits.</summary>
    public static float[] Probabilities(ReadOnlySpan<float> conf, bool isProbability, int priors, int classes)
    {
        var p = new float[priors * classes];
        if (isProbability) conf.CopyTo(p);
        else SoftmaxReference.Rows(priors, classes, conf, p);
        return p;
    }

    /// <summary>The number of priors in a prior array of <paramref name="floatsPerPrior"/> floats each, checked.</summary>
    public static int PriorCount(float[] priors, int floatsPerPrior, string layout, string who)
    {
        if (priors.Length == 0 || priors.Length % floatsPerPrior != 0) throw new ArgumentException($"{who}: {priors.Length} prior floats are not {layout}");
        return priors.Length / floatsPerPrior;
    }

    /// <summary>
    /// torchvision's BoxCoder weights from centre-size variances (0.1, 0.2 -> 10, 5): SSD's BoxCoder(weights=(10.0,
    /// 10.0, 5.0, 5.0)) holds python floats that are used as float32 divisors.
    /// </summary>
    public static (float X, float Y, float W, float H) BoxCoderWeights(float[]? variances, string who)
    {
        variances ??= [0.1f, 0.1f, 0.2f, 0.2f];
        if (variances.Length != 4 || variances.Any(v => !(v > 0))) throw new ArgumentException($"{who}: need 4 positive variances");
        return ((float)(1.0 / variances[0]), (float)(1.0 / variances[1]), (float)(1.0 / variances[2]), (float)(1.0 / variances[3]));
    }

    /// <summary>ssd.pytorch's cfg['variance'] pair: [0.1, 0.2], or Caffe-style 4 values whose first and third are used.</summary>
    public static (float Center, float Size) SsdPytorchVariances(float[]? variances, string who)
    {
        variances ??= [0.1f, 0.2f];
        return variances.Length switch
        {
            2 => (variances[0], variances[1]),
            4 => (variances[0], variances[2]),
            _ => throw new ArgumentException($"{who}: {variances.Length} variances; expected 2 or 4"),
        };
    }

    public static void CheckSize(ImageSize size, string who)
    {
        if (size.Width <= 0 || size.Height <= 0) throw new ArgumentException($"{who}: image size {size.Width}x{size.Height} is not positive");
    }
}
