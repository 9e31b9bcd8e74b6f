using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Conv;

/// <summary>
/// Depthwise convolution (one input channel per group, MobileNet's 3x3 filters) as a direct loop over each (image,
/// channel) plane: its GEMM would have a single row, so packing buys nothing. Each output row starts at the bias and
/// takes the filter's taps one after another, a tap being one pass over the row, y[ox] += w * x[ox * stride + offset],
/// over exactly the columns whose input lies inside the image (so no test per element), vectorised along the row:
/// contiguous loads at stride 1, an even/odd split of two loads at stride 2 (AVX2), a scalar walk otherwise. Every
/// output sums the same products in the same order (bias, then taps row by row; a multiply, then an add, no FMA)
/// whatever the ISA. Planes run in parallel; no scratch, so it is thread-safe.
/// </summary>
internal sealed unsafe class DepthwiseConv
{
    private readonly Conv2dParams _p;
    private readonly int _outC, _multiplier, _threads;
    private readonly CpuIsa _isa;
    private readonly float[] _w, _b;

    public DepthwiseConv(Conv2dParams p, int inC, int outC, ReadOnlySpan<float> weights, ReadOnlySpan<float> bias, int threads, CpuIsa isa)
    {
        (_p, _outC, _threads, _isa) = (p, outC, threads, isa);
        _multiplier = outC / inC;
        _w = weights.ToArray();
        _b = p.HasBias ? bias.ToArray() : new float[outC];
    }

    public void Forward(ReadOnlySpan<float> x, TensorShape xs, Span<float> y, TensorShape ys)
    {
        fixed (float* px = x, py = y)
        {
            var state = (Self: this, X: (nint)px, Y: (nint)py, Xs: xs, Ys: ys);
            double flops = 2.0 * ys.Count * _p.KernelH * _p.KernelW;
            WorkerPool.Run(xs.N * _outC, WorkerPool.WorkersFor(flops, _threads), state,
                static (s, _, t) => s.Self.Plane((float*)s.X, s.Xs, (float*)s.Y, s.Ys, t));
        }
    }

    private void Plane(float* x, TensorShape xs, float* y, TensorShape ys, int plane)
    {
        int n = plane / _outC, o = plane % _outC, c = o / _multiplier;
        var p = _p;
        float* src = x + ((long)n * xs.C + c) * xs.H * xs.W;
        float* dst = y + (long)plane * ys.H * ys.W;
        int taps = p.KernelH * p.KernelW, s = p.StrideW;
        fixed (float* w0 = &_w[o * taps])
            for (int oy = 0; oy < ys.H; oy++)
            {
                float* row = dst + (long)oy * ys.W;
                new Span<float>(row, ys.W).Fill(_b[o]);
                for (int ky = 0; ky < p.KernelH; ky++)
                {
                    int iy = oy * p.StrideH - p.PadH + ky * p.DilationH;
                    if ((uint)iy >= (uint)xs.H) continue;
                    for (int kx = 0; kx < p.KernelW; kx++)
                    {
                        // Output column ox reads input column ox * s + offset: the tap covers the ox where that is in [0, W).
                        int offset = kx * p.DilationW - p.PadW, last = xs.W - 1 - offset;
                        int lo = offset >= 0 ? 0 : (-offset + s - 1) / s, hi = last < 0 ? 0 : Math.Min(ys.W, last / s + 1);
                        if (lo < hi) Tap(row, src + (long)iy * xs.W + offset, s, w0[ky * p.KernelW + kx], lo, hi, last);
                    }
                }
                if (p.FuseRelu)
                    for (int ox = 0; ox < ys.W; ox++) row[ox] = row[ox] < 0 ? 0 : row[ox];
            }
    }

    /// <summary>row[ox] += w * input[ox * s] for ox in [lo, hi); input[0 .. last] lies in the image row.</summary>
    private void Tap(float* row, float* input, int s, float w, int lo, int hi, int last)
    {
        int ox = lo;
        if (s == 1)
        {
            if (_isa == CpuIsa.Avx512)
            {
                var vw = Vector512.Create(w);
                for (; ox + 16 <= hi; ox += 16) Vector512.Store(Vector512.Load(row + ox) + vw * Vector512.Load(input + ox), row + ox);
            }
            if (_isa is CpuIsa.Avx512 or CpuIsa.Avx2)
            {
                var vw = Vector256.Create(w);
                for (; ox + 8 <= hi; ox += 8) Vector256.Store(Vector256.Load(row + ox) + vw * Vector256.Load(input + ox), row + ox);
            }
            else
            {
                var vw = new Vector<float>(w);
                for (int k = Vector<float>.Count; ox + k <= hi; ox += k)
                    (new Vector<float>(new ReadOnlySpan<float>(row + ox, k)) + vw * new Vector<float>(new ReadOnlySpan<float>(input + ox, k)))
                        .CopyTo(new Span<float>(row + ox, k));
            }
        }
        else if (s == 2 && _isa is CpuIsa.Avx512 or CpuIsa.Avx2)
        {
            // Inputs 2ox .. 2ox + 15 in two loads (all inside the image row); their even elements, in order, are the
            // eight the outputs read.
            var vw = Vector256.Create(w);
            for (; ox + 8 <= hi && 2 * ox + 15 <= last; ox += 8)
            {
                var a = Vector256.Load(input + 2 * ox);
                var b = Vector256.Load(input + 2 * ox + 8);
                var even = Avx2.Permute4x64(Avx.Shuffle(a, b, 0b10_00_10_00).AsDouble(), 0b11_01_10_00).AsSingle();
                Vector256.Store(Vector256.Load(row + ox) + vw * even, row + ox);
            }
        }
        for (; ox < hi; ox++) row[ox] += w * input[(long)ox * s];
    }
}
