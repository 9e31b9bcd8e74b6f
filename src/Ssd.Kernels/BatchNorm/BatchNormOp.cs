using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.BatchNorm;

/// <summary>A <see cref="ChannelAffine"/>'s per-channel constants on a device (uploaded once, by <see cref="BatchNormOp.Upload"/>).</summary>
internal sealed class DeviceChannelAffine : IDisposable
{
    private readonly MemoryBuffer1D<float, Stride1D.Dense> mean, sd, scale, bias;

    internal DeviceChannelAffine(ComputeDevice device, ChannelAffine affine)
    {
        Flags = affine.Flags;
        Channels = (affine.Mean ?? affine.Scale)?.Length ?? 0;
        // Absent stages get a one-float placeholder: the kernel never reads it, but every backend sees a valid buffer.
        mean = device.Upload(affine.Mean ?? [0f]);
        sd = device.Upload(affine.StdDev() ?? [1f]);
        scale = device.Upload(affine.Scale ?? [1f]);
        bias = device.Upload(affine.Bias ?? [0f]);
    }

    public int Flags { get; }
    /// <summary>The channel count of the parameters (0 for a ReLU alone).</summary>
    public int Channels { get; }
    internal ArrayView<float> Mean => mean.View;
    internal ArrayView<float> StdDev => sd.View;
    internal ArrayView<float> Scale => scale.View;
    internal ArrayView<float> Bias => bias.View;

    public void Dispose() { mean.Dispose(); sd.Dispose(); scale.Dispose(); bias.Dispose(); }
}

/// <summary>Launches <see cref="ChannelAffine"/> (BatchNorm, Scale, ReLU) on a device. Works in place.</summary>
internal sealed class BatchNormOp(ComputeDevice device)
{
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, AffineConstants> affine1 =
        device.Kernel("batchnorm.affine.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, AffineConstants>(BatchNormKernels.Affine1));

    /// <summary>Uploads the affine's constants (checked) to this device.</summary>
    public DeviceChannelAffine Upload(ChannelAffine affine)
    {
        ArgumentNullException.ThrowIfNull(affine);
        int channels = (affine.Mean ?? affine.Scale)?.Length ?? 1;
        affine.Check(new ChannelGeometry(1, channels, 1), channels, channels);
        return new DeviceChannelAffine(device, affine);
    }

    public void Forward(ChannelGeometry g, DeviceChannelAffine affine, ArrayView<float> x, ArrayView<float> y, AcceleratorStream? stream = null)
    {
        g.Check("channel affine", x.Length, y.Length);
        if (affine.Channels != 0 && affine.Channels != g.Channels)
            throw new ArgumentException($"channel affine: constants for {affine.Channels} channels, the tensor has {g.Channels}");
        if (g.Count == 0) return;
        affine1(stream ?? device.Accelerator.DefaultStream, (int)g.Count, x, y, affine.Mean, affine.StdDev, affine.Scale, affine.Bias,
            new AffineConstants(g.Channels, g.Inner, affine.Flags));
    }
}
