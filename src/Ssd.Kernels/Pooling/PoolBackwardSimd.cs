using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Pooling;

/// <summary>
/// The gradients of max and average pooling on the CPU, bit for bit <see cref="PoolBackwardReference"/> (every
/// geometry; planes spread over the worker threads, nothing allocated):
/// <list type="bullet">
/// <item>max reads the argmax that <see cref="CpuPooling.MaxWithArgmax"/> saved in the forward (its vectorised row
/// scan, each step's "v &gt; m" mask choosing the value and its cell's index at once);</item>
/// <item>the gradients add each output's share onto its cells in the reference's order (planes are independent;
/// within a plane the order is the reference's), so the floats are the reference's. They are memory-bound
/// scatters over a plane that stays in cache, a small part of a training step next to the convolutions.</item>
/// </list>
/// </summary>
internal static unsafe class PoolBackwardSimd
{
    /// <summary>dx[plane, argmax[o]] += dy[o] over each plane's outputs in order, from zero.</summary>
    public static void MaxBackward(PoolGeometry g, ReadOnlySpan<int> argmax, ReadOnlySpan<float> dY, Span<float> dX, CpuOpOptions options = default)
    {
        PoolBackwardReference.CheckBackward(g, dY.Length, dX.Length);
        if (argmax.Length != g.Output.Count)
            throw new ArgumentException($"pooling backward: argmax has {argmax.Length} entries, output {g.Output} needs {g.Output.Count}");
        int plane = g.H * g.W;
        foreach (int a in argmax)
            if ((uint)a >= (uint)plane) throw new ArgumentException($"pooling backward: an argmax ({a}) lies outside the {g.H}x{g.W} input plane");
        fixed (float* pdy = dY, pdx = dX)
        fixed (int* pa = argmax)
        {
            var job = (Dy: (nint)pdy, Dx: (nint)pdx, A: (nint)pa, G: g);
            WorkerPool.Run(g.N * g.C, options.WorkersFor(g.Input.Count), job, static (j, _, p) =>
            {
                int plane = j.G.H * j.G.W, outPlane = j.G.OutH * j.G.OutW;
                float* dx = (float*)j.Dx + (long)p * plane;
                new Span<float>(dx, plane).Clear();
                float* dy = (float*)j.Dy + (long)p * outPlane;
                int* a = (int*)j.A + (long)p * outPlane;
                for (int i = 0; i < outPlane; i++) dx[a[i]] += dy[i];
            });
        }
    }

    /// <summary>Each output's gradient over its divisor, added to every real cell of its window (the reference's order).</summary>
    public static void AverageBackward(PoolGeometry g, AvgPoolDivisor divisor, ReadOnlySpan<float> dY, Span<float> dX, CpuOpOptions options = default)
    {
        PoolBackwardReference.CheckBackward(g, dY.Length, dX.Length);
        if (divisor is not (AvgPoolDivisor.PaddedWindow or AvgPoolDivisor.ValidWindow))
            throw new ArgumentException($"pooling backward: unknown average divisor {divisor}");
        fixed (float* pdy = dY, pdx = dX)
        {
            var job = (Dy: (nint)pdy, Dx: (nint)pdx, G: g, Divisor: divisor);
            WorkerPool.Run(g.N * g.C, options.WorkersFor(g.Input.Count + g.Output.Count * g.KernelH * g.KernelW), job, static (j, _, p) =>
            {
                var g = j.G;
                float* dx = (float*)j.Dx + (long)p * g.H * g.W;
                new Span<float>(dx, g.H * g.W).Clear();
                float* dy = (float*)j.Dy + (long)p * g.OutH * g.OutW;
                for (int oh = 0; oh < g.OutH; oh++)
                for (int ow = 0; ow < g.OutW; ow++)
                {
                    var (h0, h1, w0, w1, count) = PoolBackwardReference.AverageWindow(g, j.Divisor, oh, ow);
                    float share = dy[oh * g.OutW + ow] / count;
                    for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++)
                        dx[h * g.W + w] += share;
                }
            });
        }
    }
}
