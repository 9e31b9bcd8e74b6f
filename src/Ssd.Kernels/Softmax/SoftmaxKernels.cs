using ILGPU;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Softmax;

/// <summary>ILGPU softmax kernels over a tensor viewed as [outer, classes, inner].</summary>
public static class SoftmaxKernels
{
    /// <summary>
    /// Version 1: one thread per (outer, inner) column, three passes over its classes (max, exp and sum, divide).
    /// SSD has 8732 boxes x 21 classes: enough columns to fill a GPU, too few classes to be worth a group per row.
    /// With inner = H*W neighbouring threads read neighbouring pixels (coalesced); with inner = 1 (box rows) each
    /// thread walks its own row. Works in place. The arithmetic of <see cref="SoftmaxReference"/> in its order, with
    /// glibc's expf algorithm (<see cref="LibmExp"/>, what MathF.Exp is on Linux) and .NET's max, so the
    /// probabilities are bit for bit the host's where the device does not fuse a multiply and an add (PoCL and the
    /// CPU simulator do not): the device post-processing softmaxes logits with this kernel.
    /// </summary>
    [Kernel("softmax")]
    public static void Softmax1(Index1D i, ArrayView<float> x, ArrayView<float> y, int classes, int inner)
    {
        int o = i / inner, j = i % inner;
        int first = o * classes * inner + j;
        float max = float.NegativeInfinity;
        for (int k = 0; k < classes; k++) max = NetMath.Max(max, x[first + k * inner]);
        float sum = 0f;
        for (int k = 0; k < classes; k++)
        {
            float e = LibmExp.Expf(x[first + k * inner] - max);
            y[first + k * inner] = e;
            sum += e;
        }
        for (int k = 0; k < classes; k++) y[first + k * inner] = y[first + k * inner] / sum;
    }
}
