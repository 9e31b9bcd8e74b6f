using System.Buffers;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.L2Norm;

/// <summary>
/// L2Norm's gradients on the CPU (<see cref="L2NormBackwardReference"/>'s formulas, every epsilon mode and both rules),
/// vectorised across neighbouring pixels as <see cref="CpuL2Norm"/> is: per block of 128 pixels of one image, the sums
/// of squares (the forward's float sums, so the norm and the limit decisions are the reference's), the dot products
/// and then dx, channel by channel. The scale's gradient is summed per block and the blocks' sums added in order
/// (float sums, not the reference's double ones: a declared bound; the result does not depend on the threads).
/// </summary>
internal static unsafe class L2NormBackwardSimd
{
    private const int Block = 128;

    public static void Backward(int n, int c, int h, int w, ReadOnlySpan<float> x, ReadOnlySpan<float> scale, L2NormEpsilon mode, float eps,
        ReadOnlySpan<float> dY, Span<float> dX, Span<float> dScale, L2NormGradient rule = L2NormGradient.Exact, CpuOpOptions options = default)
    {
        L2NormBackwardChecks.Check(n, c, h, w, x.Length, scale.Length, mode, eps, dY.Length, dX.Length, dScale.Length, rule);
        int plane = h * w, blocks = (plane + Block - 1) / Block, tasks = n * blocks;
        var partial = ArrayPool<float>.Shared.Rent(tasks * scale.Length);
        try
        {
            fixed (float* px = x, ps = scale, pdy = dY, pdx = dX, pp = partial)
            {
                var job = new Job(px, ps, scale.Length == 1, pdy, pdx, pp, c, plane, blocks, mode, eps, rule, options.ResolvedIsa);
                WorkerPool.Run(tasks, options.WorkersFor(3L * n * c * plane), job, static (j, _, t) => j.Run(t));
            }
            for (int k = 0; k < scale.Length; k++)
            {
                float s = 0f;
                for (int t = 0; t < tasks; t++) s += partial[t * scale.Length + k];
                dScale[k] = s;
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partial);
        }
    }

    private readonly struct Job(float* x, float* scale, bool shared, float* dy, float* dx, float* partial, int c, int plane, int blocks,
        L2NormEpsilon mode, float eps, L2NormGradient rule, CpuIsa isa)
    {
        public void Run(int task)
        {
            int b = task / blocks, p0 = task % blocks * Block, count = Math.Min(Block, plane - p0);
            long first = (long)b * c * plane + p0;
            float* sum = stackalloc float[Block];
            float* inv = stackalloc float[Block];
            float* dot = stackalloc float[Block];
            float* coef = stackalloc float[Block];
            new Span<float>(sum, count).Clear();
            new Span<float>(dot, count).Clear();
            bool caffe = rule == L2NormGradient.Caffe;
            for (int k = 0; k < c; k++)
            {
                long at = first + (long)k * plane;
                SimdMath.AddSquares(sum, x + at, count, isa);
                SimdMath.AddProduct(dot, caffe ? 1f : scale[shared ? 0 : k], dy + at, x + at, count, isa);
            }
            for (int p = 0; p < count; p++)
            {
                double norm = L2NormReference.Norm(sum[p], mode, eps);
                inv[p] = (float)(1.0 / norm);
                // Exact: the coefficient of x in dx; Caffe's rule: dot / norm^2 / norm (scaled by s_c per channel below).
                coef[p] = caffe ? (float)(dot[p] / (norm * norm * norm))
                    : (float)(dot[p] / (norm * norm) * L2NormBackwardReference.NormSlope(sum[p], norm, mode, eps));
            }
            float* ds = partial + (long)task * (shared ? 1 : c);
            if (shared) ds[0] = 0f;
            for (int k = 0; k < c; k++)
            {
                long at = first + (long)k * plane;
                float s = scale[shared ? 0 : k];
                SimdMath.ProductDifference(dx + at, s, dy + at, inv, caffe ? s : 1f, x + at, coef, count, isa);
                float d = SimdMath.Dot3(dy + at, x + at, inv, count, isa);
                if (shared) ds[0] += d; else ds[k] = d;
            }
        }
    }
}
