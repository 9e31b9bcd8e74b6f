using ILGPU;
using ILGPU.Runtime;

namespace Ssd.Kernels.Core;

/// <summary>One term of a per-channel sum over a tensor viewed as [outer, channels, inner].</summary>
internal interface IChannelTerm
{
    /// <summary>The term at flat index <paramref name="index"/> = (outer * channels + channel) * inner + inner index.</summary>
    float At(int index, int channel, int outerIndex, int innerIndex);
}

/// <summary>
/// Per-channel sums over [outer, channels, inner] tensors (NCHW: outer = N, inner = H * W), the reductions every
/// parameter gradient and batch statistic needs: a convolution's and a Scale's bias gradient, a Scale's and an
/// L2Norm's scale gradient, BatchNorm's mean, variance and backward sums. One group per channel: each thread adds a
/// strided share of the channel's values in float, then the group adds the 256 partial sums as a tree. The order is
/// fixed by the group size, so results are deterministic (not the reference's double sum: a declared bound).
/// </summary>
internal static class ChannelReduceKernels
{
    public const int GroupSize = 256;

    /// <summary>result[c] = multiplier * sum term.At(...) over channel c (the channel is the group index).</summary>
    public static void Run<T>(T term, ArrayView<float> result, int outer, int channels, int inner, float multiplier)
        where T : struct, IChannelTerm
    {
        var partial = SharedMemory.Allocate<float>(GroupSize);
        int c = Grid.IdxX, tid = Group.IdxX;
        float acc = 0f;
        for (int o = 0; o < outer; o++)
        {
            int first = (o * channels + c) * inner;
            for (int i = tid; i < inner; i += GroupSize) acc += term.At(first + i, c, o, i);
        }
        partial[tid] = acc;
        Group.Barrier();
        for (int s = GroupSize / 2; s > 0; s >>= 1)
        {
            if (tid < s) partial[tid] += partial[tid + s];
            Group.Barrier();
        }
        if (tid == 0) result[c] = partial[0] * multiplier;
    }

    /// <summary>result[c] = multiplier * sum of a over channel c.</summary>
    [Kernel("reduce", GroupSize = GroupSize)]
    public static void Sum1(ArrayView<float> a, ArrayView<float> result, int outer, int channels, int inner, float multiplier) =>
        Run(new SumTerm(a), result, outer, channels, inner, multiplier);

    /// <summary>result[c] = multiplier * sum of a * b over channel c.</summary>
    [Kernel("reduce", GroupSize = GroupSize)]
    public static void Dot1(ArrayView<float> a, ArrayView<float> b, ArrayView<float> result, int outer, int channels, int inner, float multiplier) =>
        Run(new DotTerm(a, b), result, outer, channels, inner, multiplier);

    /// <summary>result[c] = multiplier * sum of a * b * w[outer index * inner + inner index] (a per-pixel weight).</summary>
    [Kernel("reduce", GroupSize = GroupSize)]
    public static void WeightedDot1(ArrayView<float> a, ArrayView<float> b, ArrayView<float> w, ArrayView<float> result,
        int outer, int channels, int inner, float multiplier) =>
        Run(new WeightedDotTerm(a, b, w, inner), result, outer, channels, inner, multiplier);

    /// <summary>result[c] = multiplier * sum of a * (b - mean[c]) * scale[c] (BatchNorm's sum of dy * xhat).</summary>
    [Kernel("reduce", GroupSize = GroupSize)]
    public static void CentredDot1(ArrayView<float> a, ArrayView<float> b, ArrayView<float> mean, ArrayView<float> scale, ArrayView<float> result,
        int outer, int channels, int inner, float multiplier) =>
        Run(new CentredDotTerm(a, b, mean, scale), result, outer, channels, inner, multiplier);

    /// <summary>result[c] = multiplier * sum of (a - mean[c])^2 (BatchNorm's biased variance with multiplier 1 / m).</summary>
    [Kernel("reduce", GroupSize = GroupSize)]
    public static void CentredSquare1(ArrayView<float> a, ArrayView<float> mean, ArrayView<float> result,
        int outer, int channels, int inner, float multiplier) =>
        Run(new CentredSquareTerm(a, mean), result, outer, channels, inner, multiplier);

    private readonly struct SumTerm(ArrayView<float> a) : IChannelTerm
    {
        public float At(int index, int channel, int outerIndex, int innerIndex) => a[index];
    }

    private readonly struct DotTerm(ArrayView<float> a, ArrayView<float> b) : IChannelTerm
    {
        public float At(int index, int channel, int outerIndex, int innerIndex) => a[index] * b[index];
    }

    private readonly struct WeightedDotTerm(ArrayView<float> a, ArrayView<float> b, ArrayView<float> w, int inner) : IChannelTerm
    {
        public float At(int index, int channel, int outerIndex, int innerIndex) => a[index] * b[index] * w[outerIndex * inner + innerIndex];
    }

    private readonly struct CentredDotTerm(ArrayView<float> a, ArrayView<float> b, ArrayView<float> mean, ArrayView<float> scale) : IChannelTerm
    {
        public float At(int index, int channel, int outerIndex, int innerIndex) => a[index] * ((b[index] - mean[channel]) * scale[channel]);
    }

    private readonly struct CentredSquareTerm(ArrayView<float> a, ArrayView<float> mean) : IChannelTerm
    {
        public float At(int index, int channel, int outerIndex, int innerIndex)
        {
            float d = a[index] - mean[channel];
            return d * d;
        }
    }
}

/// <summary>Launches the per-channel sums of <see cref="ChannelReduceKernels"/>; inputs are [outer, channels, inner].</summary>
internal sealed class ChannelReduceOp(ComputeDevice device)
{
    private const int G = ChannelReduceKernels.GroupSize;

    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int, float> Sum1 =>
        device.Kernel("reduce.sum.1", a => a.LoadKernel<ArrayView<float>, ArrayView<float>, int, int, int, float>(ChannelReduceKernels.Sum1));
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float> Dot1 =>
        device.Kernel("reduce.dot.1", a => a.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float>(ChannelReduceKernels.Dot1));
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float> WeightedDot1 =>
        device.Kernel("reduce.wdot.1", a => a.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float>(
            ChannelReduceKernels.WeightedDot1));
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float> CentredDot1 =>
        device.Kernel("reduce.cdot.1", a => a.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float>(
            ChannelReduceKernels.CentredDot1));
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float> CentredSquare1 =>
        device.Kernel("reduce.csq.1", a => a.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float>(
            ChannelReduceKernels.CentredSquare1));

    public void Sum(int outer, int channels, int inner, ArrayView<float> a, ArrayView<float> result, float multiplier = 1f, AcceleratorStream? stream = null)
    {
        Check(outer, channels, inner, result.Length, a.Length);
        Sum1(stream ?? device.Accelerator.DefaultStream, new KernelConfig(channels, G), a, result, outer, channels, inner, multiplier);
    }

    public void Dot(int outer, int channels, int inner, ArrayView<float> a, ArrayView<float> b, ArrayView<float> result, float multiplier = 1f,
        AcceleratorStream? stream = null)
    {
        Check(outer, channels, inner, result.Length, a.Length, b.Length);
        Dot1(stream ?? device.Accelerator.DefaultStream, new KernelConfig(channels, G), a, b, result, outer, channels, inner, multiplier);
    }

    /// <remarks><paramref name="w"/>: One weight per (outer, inner) position: [outer, inner].</remarks>
    public void WeightedDot(int outer, int channels, int inner, ArrayView<float> a, ArrayView<float> b, ArrayView<float> w, ArrayView<float> result,
        float multiplier = 1f, AcceleratorStream? stream = null)
    {
        Check(outer, channels, inner, result.Length, a.Length, b.Length);
        if (w.Length != (long)outer * inner) throw new ArgumentException($"channel reduce: the weights have {w.Length} floats, [{outer}, {inner}] needs {(long)outer * inner}");
        WeightedDot1(stream ?? device.Accelerator.DefaultStream, new KernelConfig(channels, G), a, b, w, result, outer, channels, inner, multiplier);
    }

    public void CentredDot(int outer, int channels, int inner, ArrayView<float> a, ArrayView<float> b, ArrayView<float> mean, ArrayView<float> scale,
        ArrayView<float> result, float multiplier = 1f, AcceleratorStream? stream = null)
    {
        Check(outer, channels, inner, result.Length, a.Length, b.Length);
        PerChannel(channels, mean.Length, scale.Length);
        CentredDot1(stream ?? device.Accelerator.DefaultStream, new KernelConfig(channels, G), a, b, mean, scale, result, outer, channels, inner, multiplier);
    }

    public void CentredSquare(int outer, int channels, int inner, ArrayView<float> a, ArrayView<float> mean, ArrayView<float> result,
        float multiplier = 1f, AcceleratorStream? stream = null)
    {
        Check(outer, channels, inner, result.Length, a.Length);
        PerChannel(channels, mean.Length);
        CentredSquare1(stream ?? device.Accelerator.DefaultStream, new KernelConfig(channels, G), a, mean, result, outer, channels, inner, multiplier);
    }

    private static void Check(int outer, int channels, int inner, long resultLength, params long[] lengths)
    {
        if (outer <= 0 || channels <= 0 || inner <= 0)
            throw new ArgumentException($"channel reduce: view [outer {outer}, channels {channels}, inner {inner}] has a non-positive dimension");
        long count = (long)outer * channels * inner;
        if (count > int.MaxValue) throw new ArgumentException($"channel reduce: {count} elements is more than 2^31");
        foreach (long l in lengths)
            if (l != count) throw new ArgumentException($"channel reduce: an input has {l} floats, [{outer}, {channels}, {inner}] needs {count}");
        if (resultLength != channels) throw new ArgumentException($"channel reduce: the result has {resultLength} floats, expected one per channel ({channels})");
    }

    private static void PerChannel(int channels, params long[] lengths)
    {
        foreach (long l in lengths)
            if (l != channels) throw new ArgumentException($"channel reduce: a per-channel vector has {l} floats, expected {channels}");
    }
}
