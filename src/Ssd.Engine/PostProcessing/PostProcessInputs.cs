namespace Ssd.Engine.PostProcessing;

/// <summary>Input checks shared by the post-processors and the references.</summary>
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

    public static void CheckSize(ImageSize size, string who)
    {
        if (size.Width <= 0 || size.Height <= 0) throw new ArgumentException($"{who}: image size {size.Width}x{size.Height} is not positive");
    }
}
