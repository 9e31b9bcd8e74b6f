using ILGPU;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.BatchNorm;

/// <summary>The scalar parameters of <see cref="BatchNormKernels.Affine1"/> (kernel parameters must be plain structs).</summary>
public readonly record struct AffineConstants(int Channels, int Inner, int Flags);

/// <summary>ILGPU kernels for <see cref="ChannelAffine"/> (BatchNorm, Scale, ReLU).</summary>
public static class BatchNormKernels
{
    /// <summary>
    /// Version 1: one thread per element, the element's channel from its index; neighbouring threads read
    /// neighbouring elements of one channel plane (coalesced) and the same per-channel constants. Views of stages
    /// not in <see cref="AffineConstants.Flags"/> are never read. Works in place.
    /// </summary>
    [Kernel("batchnorm")]
    public static void Affine1(Index1D i, ArrayView<float> x, ArrayView<float> y, ArrayView<float> mean, ArrayView<float> sd,
        ArrayView<float> scale, ArrayView<float> bias, AffineConstants k)
    {
        int c = i / k.Inner % k.Channels;
        bool norm = (k.Flags & ChannelAffine.NormalizeFlag) != 0;
        bool scaled = (k.Flags & ChannelAffine.ScaleFlag) != 0;
        bool biased = (k.Flags & ChannelAffine.BiasFlag) != 0;
        y[i] = ChannelAffine.Apply(x[i], k.Flags, norm ? mean[c] : 0f, norm ? sd[c] : 1f, scaled ? scale[c] : 1f, biased ? bias[c] : 0f);
    }
}
