using ILGPU;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Eltwise;

/// <summary>
/// ILGPU kernels for Eltwise, one thread per element, computing <see cref="EltwiseReference"/>'s scalar steps:
/// the first two inputs in one launch, each later input folded into the result by another.
/// The kernels' mode is (int)<see cref="EltwiseMode"/>; weighted is 1 for a sum with coefficients.
/// </summary>
public static class EltwiseKernels
{
    /// <summary>Version 1: y = a (op) b. y may be a or b (each thread reads its element before writing it).</summary>
    [Kernel("eltwise")]
    public static void First1(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, int mode, int weighted, float ca, float cb) =>
        y[i] = weighted != 0 ? EltwiseReference.WeightedFirst(a[i], b[i], ca, cb) : EltwiseReference.First((EltwiseMode)mode, a[i], b[i]);

    /// <summary>Version 1: y = y (op) x for a later input x, in place on the running result.</summary>
    [Kernel("eltwise")]
    public static void Next1(Index1D i, ArrayView<float> x, ArrayView<float> y, int mode, int weighted, float c) =>
        y[i] = weighted != 0 ? EltwiseReference.WeightedNext(y[i], x[i], c) : EltwiseReference.Next((EltwiseMode)mode, y[i], x[i]);
}
