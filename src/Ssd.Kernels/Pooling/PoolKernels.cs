using ILGPU;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Pooling;

/// <summary>ILGPU pooling kernels over NCHW float32.</summary>
public static class PoolKernels
{
    /// <summary>Version 1: one thread per output element, window loop in registers; neighbouring threads read neighbouring columns.</summary>
    [Kernel("pooling")]
    public static void MaxPool1(Index1D i, ArrayView<float> x, ArrayView<float> y, PoolGeometry g)
    {
        int ow = i % g.OutW;
        int oh = (i / g.OutW) % g.OutH;
        int nc = i / (g.OutW * g.OutH);
        int h0 = oh * g.StrideH - g.PadH, w0 = ow * g.StrideW - g.PadW;
        int h1 = IntrinsicMath.Min(h0 + g.KernelH, g.H), w1 = IntrinsicMath.Min(w0 + g.KernelW, g.W);
        h0 = IntrinsicMath.Max(h0, 0); w0 = IntrinsicMath.Max(w0, 0);
        float m = float.NegativeInfinity;
        for (int h = h0; h < h1; h++)
        {
            int row = (nc * g.H + h) * g.W;
            for (int w = w0; w < w1; w++)
            {
                float v = x[row + w];
                if (NetMath.Greater(v, m)) m = v; // a NaN never wins, as in the reference (tested on the bits for PoCL)
            }
        }
        y[i] = m;
    }

    /// <summary>
    /// Version 1: one thread per output element. <paramref name="validOnly"/> is 0 for the padded-window divisor
    /// (Caffe, PyTorch count_include_pad=True) and 1 for PyTorch's count_include_pad=False.
    /// </summary>
    [Kernel("pooling")]
    public static void AvgPool1(Index1D i, ArrayView<float> x, ArrayView<float> y, PoolGeometry g, int validOnly)
    {
        int ow = i % g.OutW;
        int oh = (i / g.OutW) % g.OutH;
        int nc = i / (g.OutW * g.OutH);
        int h0 = oh * g.StrideH - g.PadH, w0 = ow * g.StrideW - g.PadW;
        int h1 = IntrinsicMath.Min(h0 + g.KernelH, g.H + g.PadH), w1 = IntrinsicMath.Min(w0 + g.KernelW, g.W + g.PadW);
        int paddedCount = (h1 - h0) * (w1 - w0);
        h0 = IntrinsicMath.Max(h0, 0); w0 = IntrinsicMath.Max(w0, 0);
        h1 = IntrinsicMath.Min(h1, g.H); w1 = IntrinsicMath.Min(w1, g.W);
        int count = validOnly != 0 ? (h1 - h0) * (w1 - w0) : paddedCount;
        float sum = 0f;
        for (int h = h0; h < h1; h++)
        {
            int row = (nc * g.H + h) * g.W;
            for (int w = w0; w < w1; w++) sum += x[row + w];
        }
        y[i] = sum / count;
    }
}
