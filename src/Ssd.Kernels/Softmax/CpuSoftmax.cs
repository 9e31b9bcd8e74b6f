using System.Numerics;
using System.Runtime.Intrinsics;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Softmax;

/// <summary>
/// Softmax over the class axis of [outer, classes, inner], bit for bit <see cref="SoftmaxReference"/>.
/// The exponentials are MathF.Exp, one at a time, as in the reference (a vector exp would round differently), so
/// the speed-up is the threads and, when inner &gt; 1, vectors across neighbouring columns for the max, the sum
/// (still class 0, 1, 2, ... per column) and the division. SSD's box scores (inner = 1, 21 or 91 classes per row)
/// are rows spread over the workers. Safe in place (y may be x).
/// </summary>
internal static unsafe class CpuSoftmax
{
    /// <summary>Columns per task when inner &gt; 1.</summary>
    private const int Block = 256;

    public static void Forward(int outer, int classes, int inner, ReadOnlySpan<float> x, Span<float> y, CpuOpOptions options = default)
    {
        SoftmaxChecks.Shape(outer, classes, inner, x.Length, y.Length);
        long count = (long)outer * classes * inner;
        int blocks = (inner + Block - 1) / Block;
        // inner = 1: tasks of whole rows, ~4K floats each.
        int rowsPerTask = inner == 1 ? CpuOpOptions.ItemsPerTask(outer, classes, 4096) : 1;
        int tasks = inner == 1 ? (outer + rowsPerTask - 1) / rowsPerTask : outer * blocks;
        fixed (float* px = x, py = y)
        {
            var job = new Job(px, py, outer, classes, inner, blocks, rowsPerTask, options.ResolvedIsa);
            // An exp costs ~20 floats' worth of memory traffic: go parallel sooner than the pure memory ops.
            WorkerPool.Run(tasks, options.WorkersFor(count * 16), job, static (j, _, t) => j.Run(t));
        }
    }

    private readonly struct Job(float* x, float* y, int outer, int classes, int inner, int blocks, int rowsPerTask, CpuIsa isa)
    {
        public void Run(int task)
        {
            if (inner == 1)
            {
                int end = Math.Min(outer, (task + 1) * rowsPerTask);
                for (int o = task * rowsPerTask; o < end; o++)
                    SoftmaxReference.Row(new ReadOnlySpan<float>(x + (long)o * classes, classes), new Span<float>(y + (long)o * classes, classes));
                return;
            }
            int b = task / blocks, i0 = task % blocks * Block, n = Math.Min(Block, inner - i0);
            Columns(x + (long)b * classes * inner + i0, y + (long)b * classes * inner + i0, n);
        }

        /// <summary>n neighbouring columns at once: per column the reference's max, exp, sum and division.</summary>
        private void Columns(float* xc, float* yc, int n)
        {
            float* max = stackalloc float[Block];
            float* sum = stackalloc float[Block];
            new Span<float>(max, n).Fill(float.NegativeInfinity);
            new Span<float>(sum, n).Clear();
            for (int k = 0; k < classes; k++) Lanes(xc + (long)k * inner, max, n, Op.Max);
            for (int k = 0; k < classes; k++)
            {
                float* xk = xc + (long)k * inner, yk = yc + (long)k * inner;
                for (int i = 0; i < n; i++) yk[i] = MathF.Exp(xk[i] - max[i]);
                Lanes(yk, sum, n, Op.Add);
            }
            for (int k = 0; k < classes; k++) Lanes(yc + (long)k * inner, sum, n, Op.DivideBy);
        }

        private enum Op { Max, Add, DivideBy }

        /// <summary>Max: acc = max(acc, v); Add: acc = acc + v; DivideBy: v = v / acc. MathF.Max and Vector*.Max are both IEEE 754-2019 maximum.</summary>
        private void Lanes(float* v, float* acc, int n, Op op)
        {
            int i = 0;
            if (isa == CpuIsa.Avx512)
                for (; i + 16 <= n; i += 16)
                {
                    var a = Vector512.Load(acc + i);
                    var b = Vector512.Load(v + i);
                    if (op == Op.DivideBy) Vector512.Store(b / a, v + i);
                    else Vector512.Store(op == Op.Max ? Vector512.Max(a, b) : a + b, acc + i);
                }
            else if (isa == CpuIsa.Avx2)
                for (; i + 8 <= n; i += 8)
                {
                    var a = Vector256.Load(acc + i);
                    var b = Vector256.Load(v + i);
                    if (op == Op.DivideBy) Vector256.Store(b / a, v + i);
                    else Vector256.Store(op == Op.Max ? Vector256.Max(a, b) : a + b, acc + i);
                }
            else
                for (int w = Vector<float>.Count; i + w <= n; i += w)
                {
                    var a = new Vector<float>(new ReadOnlySpan<float>(acc + i, w));
                    var b = new Vector<float>(new ReadOnlySpan<float>(v + i, w));
                    if (op == Op.DivideBy) (b / a).CopyTo(new Span<float>(v + i, w));
                    else (op == Op.Max ? Vector.Max(a, b) : a + b).CopyTo(new Span<float>(acc + i, w));
                }
            for (; i < n; i++)
            {
                if (op == Op.DivideBy) v[i] /= acc[i];
                else acc[i] = op == Op.Max ? MathF.Max(acc[i], v[i]) : acc[i] + v[i];
            }
        }
    }
}
