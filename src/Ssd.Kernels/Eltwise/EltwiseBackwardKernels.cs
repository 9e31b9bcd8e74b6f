using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Eltwise;

/// <summary>
/// ILGPU kernels for Eltwise's gradients, bit for bit <see cref="EltwiseBackwardReference"/>, one thread per element,
/// a launch per step (inputs are separate views, a kernel takes a fixed number): a sum's c * dy, a product's running
/// product of the other inputs, Caffe's max mask built input by input and then each input's share of dy.
/// </summary>
public static class EltwiseBackwardKernels
{
    /// <summary>Version 1: y = c * x (c = 1 copies x exactly).</summary>
    [Kernel("eltwise")]
    public static void Scaled1(Index1D i, ArrayView<float> x, ArrayView<float> y, float c) => y[i] = c * x[i];

    /// <summary>Version 1: y = y * x, in place on the running product.</summary>
    [Kernel("eltwise")]
    public static void MultiplyInto1(Index1D i, ArrayView<float> x, ArrayView<float> y) => y[i] = y[i] * x[i];

    /// <summary>Version 1: the first pair of Caffe's max: winner = x0 &gt; x1 ? 0 : 1, max = the winner's value.</summary>
    [Kernel("eltwise")]
    public static void MaxFirst1(Index1D i, ArrayView<float> x0, ArrayView<float> x1, ArrayView<float> max, ArrayView<int> winner)
    {
        bool first = NetMath.Greater(x0[i], x1[i]); // NaN by its bits: PoCL does not keep a negated comparison's unordered case
        max[i] = first ? x0[i] : x1[i];
        winner[i] = first ? 0 : 1;
    }

    /// <summary>Version 1: a later input k of Caffe's max takes the element only when strictly greater.</summary>
    [Kernel("eltwise")]
    public static void MaxNext1(Index1D i, ArrayView<float> x, ArrayView<float> max, ArrayView<int> winner, int k)
    {
        if (NetMath.Greater(x[i], max[i]))
        {
            max[i] = x[i];
            winner[i] = k;
        }
    }

    /// <summary>Version 1: dx_k = dy where input k won, else 0.</summary>
    [Kernel("eltwise")]
    public static void MaxRoute1(Index1D i, ArrayView<int> winner, ArrayView<float> dy, ArrayView<float> dx, int k) =>
        dx[i] = winner[i] == k ? dy[i] : 0f;
}

/// <summary>Launches Eltwise's gradients on a device; owns the max mask's scratch: one per caller. Gradients must not overlap inputs or dy.</summary>
internal sealed class EltwiseBackwardOp(ComputeDevice device) : IDisposable
{
    private MemoryBuffer1D<float, Stride1D.Dense>? maxScratch;
    private MemoryBuffer1D<int, Stride1D.Dense>? winnerScratch;

    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, float> scaled1 =
        device.Kernel("eltwise.backward.scaled.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, float>(EltwiseBackwardKernels.Scaled1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>> multiply1 =
        device.Kernel("eltwise.backward.multiply.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>>(EltwiseBackwardKernels.MultiplyInto1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>> maxFirst1 =
        device.Kernel("eltwise.backward.maxfirst.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>>(
            EltwiseBackwardKernels.MaxFirst1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, int> maxNext1 =
        device.Kernel("eltwise.backward.maxnext.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, int>(
            EltwiseBackwardKernels.MaxNext1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<int>, ArrayView<float>, ArrayView<float>, int> maxRoute1 =
        device.Kernel("eltwise.backward.maxroute.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<int>, ArrayView<float>, ArrayView<float>, int>(
            EltwiseBackwardKernels.MaxRoute1));

    /// <remarks><paramref name="coefficients"/>: One per gradient, or empty for a plain sum.</remarks>
    public void SumBackward(ReadOnlySpan<float> coefficients, ArrayView<float> dy, IReadOnlyList<ArrayView<float>> dInputs, AcceleratorStream? stream = null)
    {
        Check(dInputs.Count, dy.Length, dInputs, coefficients.Length);
        var s = stream ?? device.Accelerator.DefaultStream;
        for (int k = 0; k < dInputs.Count; k++) scaled1(s, (int)dy.Length, dy, dInputs[k], coefficients.Length > 0 ? coefficients[k] : 1f);
    }

    public void ProductBackward(IReadOnlyList<ArrayView<float>> inputs, ArrayView<float> dy, IReadOnlyList<ArrayView<float>> dInputs,
        AcceleratorStream? stream = null)
    {
        CheckPairs(inputs, dy, dInputs);
        var s = stream ?? device.Accelerator.DefaultStream;
        int n = (int)dy.Length;
        for (int k = 0; k < inputs.Count; k++)
        {
            int first = k == 0 ? 1 : 0;
            scaled1(s, n, inputs[first], dInputs[k], 1f);
            for (int j = first + 1; j < inputs.Count; j++)
                if (j != k) multiply1(s, n, inputs[j], dInputs[k]);
            multiply1(s, n, dy, dInputs[k]);
        }
    }

    public void MaxBackward(IReadOnlyList<ArrayView<float>> inputs, ArrayView<float> dy, IReadOnlyList<ArrayView<float>> dInputs,
        AcceleratorStream? stream = null)
    {
        CheckPairs(inputs, dy, dInputs);
        var s = stream ?? device.Accelerator.DefaultStream;
        int n = (int)dy.Length;
        if (maxScratch is null || maxScratch.Length < n)
        {
            if (maxScratch is not null) device.Synchronize();
            maxScratch?.Dispose();
            winnerScratch?.Dispose();
            maxScratch = device.Allocate(n);
            winnerScratch = device.Accelerator.Allocate1D<int>(n);
        }
        var (max, winner) = (maxScratch.View.SubView(0, n), winnerScratch!.View.SubView(0, n));
        maxFirst1(s, n, inputs[0], inputs[1], max, winner);
        for (int k = 2; k < inputs.Count; k++) maxNext1(s, n, inputs[k], max, winner, k);
        for (int k = 0; k < inputs.Count; k++) maxRoute1(s, n, winner, dy, dInputs[k], k);
    }

    private static void CheckPairs(IReadOnlyList<ArrayView<float>> inputs, ArrayView<float> dy, IReadOnlyList<ArrayView<float>> dInputs)
    {
        Check(inputs.Count, dy.Length, inputs, 0);
        Check(dInputs.Count, dy.Length, dInputs, 0);
        if (inputs.Count != dInputs.Count) throw new ArgumentException($"eltwise backward: {inputs.Count} inputs but {dInputs.Count} gradients");
    }

    private static void Check(int count, long length, IReadOnlyList<ArrayView<float>> views, int coefficients)
    {
        if (count < 2) throw new ArgumentException($"eltwise backward: needs at least two inputs, got {count}");
        if (coefficients != 0 && coefficients != count) throw new ArgumentException($"eltwise backward: {coefficients} coefficients for {count} inputs");
        if (length > int.MaxValue) throw new ArgumentException($"eltwise backward: {length} elements exceed 2^31");
        foreach (var v in views)
            if (v.Length != length) throw new ArgumentException($"eltwise backward: a tensor has {v.Length} floats, dy has {length}");
    }

    public void Dispose()
    {
        maxScratch?.Dispose();
        winnerScratch?.Dispose();
    }
}
