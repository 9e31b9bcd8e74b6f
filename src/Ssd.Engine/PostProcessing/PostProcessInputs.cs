using Ssd.Kernels.Softmax;

namespace Ssd.Engine.PostProcessing;

/// <summary>Shape checks and score preparation shared by the post-processor and the references.</summary>
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

    public static void CheckSize(ImageSize size, string who)
    {
        if (size.Width <= 0 || size.Height <= 0) throw new ArgumentException($"{who}: image size {size.Width}x{size.Height} is not positive");
    }
}
