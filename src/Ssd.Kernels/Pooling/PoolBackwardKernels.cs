using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Pooling;

/// <summary>
/// ILGPU kernels for max pooling with its argmax and the gradients of max and average pooling, bit for bit
/// <see cref="PoolBackwardReference"/>. The gradients gather (one thread per input cell, no atomics): a cell visits
/// the outputs whose windows contain it in output order and adds what each sends it, the reference's additions.
/// </summary>
public static class PoolBackwardKernels
{
    /// <summary>Version 1: <see cref="PoolKernels.MaxPool1"/> plus the argmax (index in the input plane, first maximum wins).</summary>
    [Kernel("pooling")]
    public static void MaxPoolArgmax1(Index1D i, ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax, PoolGeometry g)
    {
        int ow = i % g.OutW;
        int oh = (i / g.OutW) % g.OutH;
        int nc = i / (g.OutW * g.OutH);
        int h0 = oh * g.StrideH - g.PadH, w0 = ow * g.StrideW - g.PadW;
        int h1 = IntrinsicMath.Min(h0 + g.KernelH, g.H), w1 = IntrinsicMath.Min(w0 + g.KernelW, g.W);
        h0 = IntrinsicMath.Max(h0, 0); w0 = IntrinsicMath.Max(w0, 0);
        float m = float.NegativeInfinity;
        int best = h0 * g.W + w0;
        for (int h = h0; h < h1; h++)
        {
            int row = (nc * g.H + h) * g.W;
            for (int w = w0; w < w1; w++)
            {
                float v = x[row + w];
                if (NetMath.Greater(v, m)) { m = v; best = h * g.W + w; } // as MaxPool1: NaN never wins, on the bits for PoCL
            }
        }
        y[i] = m;
        argmax[i] = best;
    }

    /// <summary>Version 1: one thread per input cell: the sum of dy over the outputs that chose it.</summary>
    [Kernel("pooling")]
    public static void MaxPoolBackward1(Index1D i, ArrayView<int> argmax, ArrayView<float> dy, ArrayView<float> dx, PoolGeometry g)
    {
        int w = i % g.W;
        int h = (i / g.W) % g.H;
        int nc = i / (g.W * g.H);
        int cell = h * g.W + w;
        int oh0 = FirstWindow(h, g.PadH, g.KernelH, g.StrideH), oh1 = IntrinsicMath.Min(g.OutH - 1, (h + g.PadH) / g.StrideH);
        int ow0 = FirstWindow(w, g.PadW, g.KernelW, g.StrideW), ow1 = IntrinsicMath.Min(g.OutW - 1, (w + g.PadW) / g.StrideW);
        float acc = 0f;
        for (int oh = oh0; oh <= oh1; oh++)
        {
            int row = (nc * g.OutH + oh) * g.OutW;
            for (int ow = ow0; ow <= ow1; ow++)
                if (argmax[row + ow] == cell) acc += dy[row + ow];
        }
        dx[i] = acc;
    }

    /// <summary>
    /// Version 1: one thread per input cell: the sum over the windows containing it of dy / the window's divisor.
    /// <paramref name="validOnly"/> is 1 for <see cref="AvgPoolDivisor.ValidWindow"/>.
    /// </summary>
    [Kernel("pooling")]
    public static void AvgPoolBackward1(Index1D i, ArrayView<float> dy, ArrayView<float> dx, PoolGeometry g, int validOnly)
    {
        int w = i % g.W;
        int h = (i / g.W) % g.H;
        int nc = i / (g.W * g.H);
        int oh0 = FirstWindow(h, g.PadH, g.KernelH, g.StrideH), oh1 = IntrinsicMath.Min(g.OutH - 1, (h + g.PadH) / g.StrideH);
        int ow0 = FirstWindow(w, g.PadW, g.KernelW, g.StrideW), ow1 = IntrinsicMath.Min(g.OutW - 1, (w + g.PadW) / g.StrideW);
        float acc = 0f;
        for (int oh = oh0; oh <= oh1; oh++)
        {
            int ha = oh * g.StrideH - g.PadH, hb = IntrinsicMath.Min(ha + g.KernelH, g.H + g.PadH);
            int rows = validOnly != 0 ? IntrinsicMath.Min(hb, g.H) - IntrinsicMath.Max(ha, 0) : hb - ha;
            int row = (nc * g.OutH + oh) * g.OutW;
            for (int ow = ow0; ow <= ow1; ow++)
            {
                int wa = ow * g.StrideW - g.PadW, wb = IntrinsicMath.Min(wa + g.KernelW, g.W + g.PadW);
                int cols = validOnly != 0 ? IntrinsicMath.Min(wb, g.W) - IntrinsicMath.Max(wa, 0) : wb - wa;
                acc += dy[row + ow] / (rows * cols);
            }
        }
        dx[i] = acc;
    }

    /// <summary>The first output whose window [o * s - p, o * s - p + k) contains input position <paramref name="at"/>.</summary>
    private static int FirstWindow(int at, int pad, int kernel, int stride)
    {
        int t = at + pad - kernel + 1;
        return t <= 0 ? 0 : (t + stride - 1) / stride;
    }
}

/// <summary>Launches max pooling with argmax and the pooling gradients on a device.</summary>
internal sealed class PoolBackwardOp(ComputeDevice device)
{
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, PoolGeometry> argmax1 =
        device.Kernel("pooling.argmax.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, PoolGeometry>(
            PoolBackwardKernels.MaxPoolArgmax1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<int>, ArrayView<float>, ArrayView<float>, PoolGeometry> maxBackward1 =
        device.Kernel("pooling.max.backward.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<int>, ArrayView<float>, ArrayView<float>, PoolGeometry>(
            PoolBackwardKernels.MaxPoolBackward1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, PoolGeometry, int> avgBackward1 =
        device.Kernel("pooling.avg.backward.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, PoolGeometry, int>(
            PoolBackwardKernels.AvgPoolBackward1));

    public void MaxWithArgmax(PoolGeometry g, ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax, AcceleratorStream? stream = null)
    {
        if (x.Length != g.Input.Count) throw new ArgumentException($"pooling: input has {x.Length} floats, shape {g.Input} needs {g.Input.Count}");
        if (y.Length != g.Output.Count) throw new ArgumentException($"pooling: output has {y.Length} floats, shape {g.Output} needs {g.Output.Count}");
        if (argmax.Length != g.Output.Count) throw new ArgumentException($"pooling: argmax has {argmax.Length} entries, output {g.Output} needs {g.Output.Count}");
        argmax1(stream ?? device.Accelerator.DefaultStream, (int)g.Output.Count, x, y, argmax, g);
    }

    /// <summary>dx from dy and the forward's argmax (an argmax outside its plane, which the forward never writes, is ignored).</summary>
    public void MaxBackward(PoolGeometry g, ArrayView<int> argmax, ArrayView<float> dy, ArrayView<float> dx, AcceleratorStream? stream = null)
    {
        Check(g, dy.Length, dx.Length);
        if (argmax.Length != g.Output.Count) throw new ArgumentException($"pooling backward: argmax has {argmax.Length} entries, output {g.Output} needs {g.Output.Count}");
        maxBackward1(stream ?? device.Accelerator.DefaultStream, (int)g.Input.Count, argmax, dy, dx, g);
    }

    public void AverageBackward(PoolGeometry g, AvgPoolDivisor divisor, ArrayView<float> dy, ArrayView<float> dx, AcceleratorStream? stream = null)
    {
        Check(g, dy.Length, dx.Length);
        if (divisor is not (AvgPoolDivisor.PaddedWindow or AvgPoolDivisor.ValidWindow))
            throw new ArgumentException($"pooling backward: unknown average divisor {divisor}");
        avgBackward1(stream ?? device.Accelerator.DefaultStream, (int)g.Input.Count, dy, dx, g, divisor == AvgPoolDivisor.ValidWindow ? 1 : 0);
    }

    private static void Check(PoolGeometry g, long dyLength, long dxLength) => PoolBackwardReference.CheckBackward(g, dyLength, dxLength);
}
