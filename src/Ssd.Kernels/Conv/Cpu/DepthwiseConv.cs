using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Conv;

/// <summary>
/// Depthwise convolution (one input channel per group) as a direct loop over each (image, channel) plane: its GEMM
/// would have a single row, so packing buys nothing. Planes run in parallel; no scratch, so it is thread-safe.
/// </summary>
internal sealed unsafe class DepthwiseConv
{
    private readonly Conv2dParams _p;
    private readonly int _outC, _multiplier, _threads;
    private readonly float[] _w, _b;

    public DepthwiseConv(Conv2dParams p, int inC, int outC, ReadOnlySpan<float> weights, ReadOnlySpan<float> bias, int threads)
    {
        (_p, _outC, _threads) = (p, outC, threads);
        _multiplier = outC / inC;
        _w = weights.ToArray();
        _b = p.HasBias ? bias.ToArray() : new float[outC];
    }

    public void Forward(ReadOnlySpan<float> x, TensorShape xs, Span<float> y, TensorShape ys)
    {
        fixed (float* px = x, py = y)
        {
            var state = (Self: this, X: (nint)px, Y: (nint)py, Xs: xs, Ys: ys);
            WorkerPool.Run(xs.N * _outC, _threads, state, static (s, _, t) => s.Self.Plane((float*)s.X, s.Xs, (float*)s.Y, s.Ys, t));
        }
    }

    private void Plane(float* x, TensorShape xs, float* y, TensorShape ys, int plane)
    {
        int n = plane / _outC, o = plane % _outC, c = o / _multiplier;
        var p = _p;
        float* src = x + ((long)n * xs.C + c) * xs.H * xs.W;
        float* dst = y + (long)plane * ys.H * ys.W;
        int taps = p.KernelH * p.KernelW;
        fixed (float* w0 = &_w[o * taps])
            for (int oy = 0; oy < ys.H; oy++)
                for (int ox = 0; ox < ys.W; ox++)
                {
                    float acc = _b[o];
                    for (int ky = 0; ky < p.KernelH; ky++)
                    {
                        int iy = oy * p.StrideH - p.PadH + ky * p.DilationH;
                        if ((uint)iy >= (uint)xs.H) continue;
                        for (int kx = 0; kx < p.KernelW; kx++)
                        {
                            int ix = ox * p.StrideW - p.PadW + kx * p.DilationW;
                            if ((uint)ix < (uint)xs.W) acc += w0[ky * p.KernelW + kx] * src[iy * xs.W + ix];
                        }
                    }
                    dst[oy * ys.W + ox] = p.FuseRelu && acc < 0 ? 0 : acc;
                }
    }
}
