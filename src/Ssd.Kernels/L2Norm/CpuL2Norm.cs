using System.Numerics;
using System.Runtime.Intrinsics;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.L2Norm;

/// <summary>
/// SSD's per-pixel L2 normalisation across channels (conv4_3_norm), bit for bit <see cref="L2NormReference"/> in
/// all three epsilon modes. Vectorised across neighbouring pixels, never across channels: each pixel's sum of squares
/// is still accumulated channel 0, 1, 2, ... with a separate multiply and add (no FMA), so the sum, the norm and
/// "x / norm * scale" are the reference's floats. Blocks of pixels are spread over the worker threads (each block
/// reads its pixels' channel columns twice: once for the sums, once to scale). Safe in place (y may be x).
/// </summary>
internal static unsafe class CpuL2Norm
{
    /// <summary>Pixels per block: the sums stay in L1 and a block's columns in L2 between the two passes.</summary>
    private const int Block = 128;

    /// <remarks><paramref name="scale"/>: One value (channel_shared) or one per channel.</remarks>
    public static void Forward(int n, int c, int h, int w, ReadOnlySpan<float> x, ReadOnlySpan<float> scale,
        L2NormEpsilon mode, float eps, Span<float> y, CpuOpOptions options = default)
    {
        L2NormChecks.Shape(n, c, h, w, x.Length, y.Length, scale.Length);
        if (mode is not (L2NormEpsilon.InsideSqrt or L2NormEpsilon.AfterSqrt or L2NormEpsilon.ClampMin))
            throw new ArgumentException($"l2norm: unknown epsilon mode {mode}");
        int plane = h * w, blocks = (plane + Block - 1) / Block;
        fixed (float* px = x, ps = scale, py = y)
        {
            var job = new Job(px, py, ps, scale.Length == 1, c, plane, blocks, mode, eps, options.ResolvedIsa);
            WorkerPool.Run(n * blocks, options.WorkersFor((long)n * c * plane), job, static (j, _, t) => j.Run(t));
        }
    }

    private readonly struct Job(float* x, float* y, float* scale, bool shared, int c, int plane, int blocks,
        L2NormEpsilon mode, float eps, CpuIsa isa)
    {
        public void Run(int task)
        {
            int b = task / blocks, p0 = task % blocks * Block, count = Math.Min(Block, plane - p0);
            long first = (long)b * c * plane + p0;
            float* norm = stackalloc float[Block];
            new Span<float>(norm, count).Clear();
            for (int k = 0; k < c; k++) SumSquares(x + first + (long)k * plane, norm, count);
            for (int p = 0; p < count; p++) norm[p] = Norm(norm[p]);
            // Divide first, then scale: the order all three frameworks use.
            for (int k = 0; k < c; k++)
            {
                long at = first + (long)k * plane;
                Scale(x + at, norm, scale[shared ? 0 : k], y + at, count);
            }
        }

        private float Norm(float sumSquares) => mode switch
        {
            L2NormEpsilon.InsideSqrt => MathF.Sqrt(sumSquares + eps),
            L2NormEpsilon.AfterSqrt => MathF.Sqrt(sumSquares) + eps,
            _ => MathF.Max(MathF.Sqrt(sumSquares), eps),
        };

        /// <summary>sum[p] = sum[p] + v[p] * v[p]: a multiply, then an add, per lane.</summary>
        private void SumSquares(float* v, float* sum, int count)
        {
            int p = 0;
            if (isa == CpuIsa.Avx512)
                for (; p + 16 <= count; p += 16)
                {
                    var a = Vector512.Load(v + p);
                    Vector512.Store(Vector512.Load(sum + p) + a * a, sum + p);
                }
            else if (isa == CpuIsa.Avx2)
                for (; p + 8 <= count; p += 8)
                {
                    var a = Vector256.Load(v + p);
                    Vector256.Store(Vector256.Load(sum + p) + a * a, sum + p);
                }
            else
                for (int w = Vector<float>.Count; p + w <= count; p += w)
                {
                    var a = new Vector<float>(new ReadOnlySpan<float>(v + p, w));
                    (new Vector<float>(new ReadOnlySpan<float>(sum + p, w)) + a * a).CopyTo(new Span<float>(sum + p, w));
                }
            for (; p < count; p++) sum[p] += v[p] * v[p];
        }

        private void Scale(float* v, float* norm, float s, float* o, int count)
        {
            int p = 0;
            if (isa == CpuIsa.Avx512)
            {
                var vs = Vector512.Create(s);
                for (; p + 16 <= count; p += 16) Vector512.Store(Vector512.Load(v + p) / Vector512.Load(norm + p) * vs, o + p);
            }
            else if (isa == CpuIsa.Avx2)
            {
                var vs = Vector256.Create(s);
                for (; p + 8 <= count; p += 8) Vector256.Store(Vector256.Load(v + p) / Vector256.Load(norm + p) * vs, o + p);
            }
            else
            {
                var vs = new Vector<float>(s);
                for (int w = Vector<float>.Count; p + w <= count; p += w)
                    (new Vector<float>(new ReadOnlySpan<float>(v + p, w)) / new Vector<float>(new ReadOnlySpan<float>(norm + p, w)) * vs)
                        .CopyTo(new Span<float>(o + p, w));
            }
            for (; p < count; p++) o[p] = v[p] / norm[p] * s;
        }
    }
}
