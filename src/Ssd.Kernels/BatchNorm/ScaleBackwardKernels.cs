using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.BatchNorm;

/// <summary>ILGPU kernels for a per-channel Scale's gradients (<see cref="ScaleBackwardReference"/>): dx element-wise, ds and db Core's reduces.</summary>
public static class ScaleBackwardKernels
{
    /// <summary>Version 1: dx = dy * s[c] over the [outer, channels, inner] view, bit for bit the reference.</summary>
    [Kernel("scale")]
    public static void InputGradient1(Index1D i, ArrayView<float> dy, ArrayView<float> scale, ArrayView<float> dx, int channels, int inner) =>
        dx[i] = dy[i] * scale[i / inner % channels];
}

/// <summary>Launches a Scale's gradients on a device.</summary>
internal sealed class ScaleBackwardOp(ComputeDevice device)
{
    private readonly ChannelReduceOp reduce = new(device);
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> input1 =
        device.Kernel("scale.backward.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(
            ScaleBackwardKernels.InputGradient1));

    /// <remarks><paramref name="dBias"/>: [channels], or an empty view when the layer has no bias.</remarks>
    public void Backward(int outer, int channels, int inner, ArrayView<float> x, ArrayView<float> scale, ArrayView<float> dy, ArrayView<float> dx,
        ArrayView<float> dScale, ArrayView<float> dBias, AcceleratorStream? stream = null)
    {
        ScaleChecks.Backward(outer, channels, inner, x.Length, scale.Length, dy.Length, dx.Length, dScale.Length, dBias.Length);
        var s = stream ?? device.Accelerator.DefaultStream;
        input1(s, (int)dy.Length, dy, scale, dx, channels, inner);
        reduce.Dot(outer, channels, inner, dy, x, dScale, 1f, s);
        if (dBias.Length > 0) reduce.Sum(outer, channels, inner, dy, dBias, 1f, s);
    }
}
