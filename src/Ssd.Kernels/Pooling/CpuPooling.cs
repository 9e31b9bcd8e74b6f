using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Pooling;

/// <summary>
/// Max and average pooling over NCHW float32, bit for bit <see cref="PoolReference"/>: every geometry it accepts
/// (Caffe ceil, PyTorch floor / ceil_mode, pool5's 3x3 s1 p1, global windows, both divisor rules).
/// One output row at a time: the row is the accumulator, and the window is walked in the reference's order (window
/// rows top to bottom, inside a row left to right), each step updating a vector of neighbouring outputs at once.
/// So each output sees the same operations on the same values in the same order as the reference:
/// the max step is x86 MAXPS (v &gt; acc ? v : acc, exactly the reference's "if (v &gt; m) m = v": NaN never wins,
/// ties keep the earlier value), the sum step one IEEE add. Cells outside the input are skipped, as the reference
/// clips its window. Stride 1 loads neighbours directly; stride 2 de-interleaves two loads; other strides go scalar.
/// Rows are spread over the worker threads; nothing is allocated per call.
/// <see cref="MaxWithArgmax"/> (training) keeps a second row of argmax indices beside the accumulator in the same scan:
/// each step's "v &gt; acc" mask selects both the value and its cell's index, so the argmax is
/// <see cref="PoolBackwardReference.MaxWithArgmax"/>'s (the first maximum in window order; a window nothing beat
/// points at its first cell).
/// </summary>
internal static unsafe class CpuPooling
{
    public static void Max(PoolGeometry g, ReadOnlySpan<float> x, Span<float> y, CpuOpOptions options = default) =>
        Run<MaxStep>(g, AvgPoolDivisor.PaddedWindow, x, y, null, options);

    /// <summary><see cref="Max"/> and each output's argmax (its cell's index h * W + w inside the input plane).</summary>
    public static void MaxWithArgmax(PoolGeometry g, ReadOnlySpan<float> x, Span<float> y, Span<int> argmax, CpuOpOptions options = default)
    {
        if (argmax.Length != g.Output.Count)
            throw new ArgumentException($"pooling: argmax has {argmax.Length} entries, output {g.Output} needs {g.Output.Count}");
        fixed (int* pa = argmax) Run<MaxStep>(g, AvgPoolDivisor.PaddedWindow, x, y, pa, options);
    }

    public static void Average(PoolGeometry g, AvgPoolDivisor divisor, ReadOnlySpan<float> x, Span<float> y, CpuOpOptions options = default)
    {
        if (divisor is not (AvgPoolDivisor.PaddedWindow or AvgPoolDivisor.ValidWindow))
            throw new ArgumentException($"pooling: unknown average divisor {divisor}");
        Run<SumStep>(g, divisor, x, y, null, options);
    }

    private static void Run<TStep>(PoolGeometry g, AvgPoolDivisor divisor, ReadOnlySpan<float> x, Span<float> y, int* argmax, CpuOpOptions options)
        where TStep : struct, IPoolStep
    {
        if (x.Length != g.Input.Count) throw new ArgumentException($"pooling: input has {x.Length} floats, shape {g.Input} needs {g.Input.Count}");
        if (y.Length != g.Output.Count) throw new ArgumentException($"pooling: output has {y.Length} floats, shape {g.Output} needs {g.Output.Count}");
        int rows = g.N * g.C * g.OutH;
        long work = (long)rows * g.OutW * g.KernelH * g.KernelW;
        int perTask = CpuOpOptions.ItemsPerTask(rows, (long)g.OutW * g.KernelH * g.KernelW, 1 << 15);
        int tasks = (rows + perTask - 1) / perTask;
        fixed (float* px = x, py = y)
        {
            var job = new Job(px, py, argmax, g, divisor, options.ResolvedIsa, perTask, rows);
            WorkerPool.Run(tasks, options.WorkersFor(work), job, static (j, _, t) => j.Rows<TStep>(t));
        }
    }

    private readonly struct Job(float* x, float* y, int* argmax, PoolGeometry g, AvgPoolDivisor divisor, CpuIsa isa, int perTask, int rows)
    {
        public void Rows<TStep>(int task) where TStep : struct, IPoolStep
        {
            int end = Math.Min(rows, (task + 1) * perTask);
            for (int r = task * perTask; r < end; r++)
            {
                int plane = r / g.OutH, oh = r % g.OutH;
                float* xp = x + (long)plane * g.H * g.W, acc = y + (long)r * g.OutW;
                new Span<float>(acc, g.OutW).Fill(TStep.Start);
                int h0 = oh * g.StrideH - g.PadH, h1 = Math.Min(h0 + g.KernelH, g.H);
                int* index = argmax is null ? null : argmax + (long)r * g.OutW;
                if (index is not null) // the window's first cell, kept where nothing beats -infinity
                    for (int ow = 0; ow < g.OutW; ow++) index[ow] = Math.Max(h0, 0) * g.W + Math.Max(ow * g.StrideW - g.PadW, 0);
                for (int h = Math.Max(h0, 0); h < h1; h++)
                for (int kw = 0; kw < g.KernelW; kw++)
                {
                    // Output ow reads input column ow * stride + off; keep the ow whose column is inside the row.
                    int off = kw - g.PadW;
                    int lo = off >= 0 ? 0 : (-off + g.StrideW - 1) / g.StrideW;
                    int hi = g.W - 1 - off < 0 ? 0 : Math.Min(g.OutW, (g.W - 1 - off) / g.StrideW + 1);
                    if (lo < hi) Accumulate<TStep>(xp + (long)h * g.W + off, g.StrideW, acc, lo, hi, g.W - off, index, h * g.W + off);
                }
                if (typeof(TStep) == typeof(SumStep)) Divide(acc, oh);
            }
        }

        /// <summary>
        /// acc[ow] = step(src[ow * stride], acc[ow]) for ow in [lo, hi); src[limit..] is past the row. With an index
        /// row (max only), index[ow] = cell + ow * stride wherever the step took the new value.
        /// </summary>
        private void Accumulate<TStep>(float* src, int stride, float* acc, int lo, int hi, int limit, int* index, int cell) where TStep : struct, IPoolStep
        {
            int ow = lo;
            if (isa == CpuIsa.Avx512)
            {
                var lanes = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) * stride;
                if (stride == 1)
                    for (; ow + 16 <= hi; ow += 16)
                        Step<TStep>(Vector512.Load(src + ow), acc + ow, index, ow, cell, lanes, stride);
                else if (stride == 2)
                {
                    var evens = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                    for (; ow + 16 <= hi && 2 * ow + 31 < limit; ow += 16)
                        Step<TStep>(Avx512F.PermuteVar16x32x2(Vector512.Load(src + 2 * ow), evens, Vector512.Load(src + 2 * ow + 16)), acc + ow, index, ow, cell, lanes, stride);
                }
            }
            else if (isa == CpuIsa.Avx2)
            {
                var lanes = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * stride;
                if (stride == 1)
                    for (; ow + 8 <= hi; ow += 8)
                        Step<TStep>(Vector256.Load(src + ow), acc + ow, index, ow, cell, lanes, stride);
                else if (stride == 2)
                    for (; ow + 8 <= hi && 2 * ow + 15 < limit; ow += 8)
                    {
                        // [a0 a2 b0 b2 | a4 a6 b4 b6] -> [a0 a2 a4 a6 b0 b2 b4 b6]
                        var mixed = Avx.Shuffle(Vector256.Load(src + 2 * ow), Vector256.Load(src + 2 * ow + 8), 0b10_00_10_00);
                        Step<TStep>(Avx2.Permute4x64(mixed.AsDouble(), 0b11_01_10_00).AsSingle(), acc + ow, index, ow, cell, lanes, stride);
                    }
            }
            else if (stride == 1 && index is null)
            {
                int w = Vector<float>.Count;
                for (; ow + w <= hi; ow += w)
                {
                    var a = new Vector<float>(new ReadOnlySpan<float>(acc + ow, w));
                    TStep.Apply(new Vector<float>(new ReadOnlySpan<float>(src + ow, w)), a).CopyTo(new Span<float>(acc + ow, w));
                }
            }
            for (; ow < hi; ow++)
            {
                float v = src[(long)ow * stride];
                if (index is not null && v > acc[ow]) index[ow] = cell + ow * stride;
                acc[ow] = TStep.Apply(v, acc[ow]);
            }
        }

        /// <summary>One vector step at acc: the value, and with an index row the taken cells' indices.</summary>
        private static void Step<TStep>(Vector512<float> v, float* acc, int* index, int ow, int cell, Vector512<int> lanes, int stride) where TStep : struct, IPoolStep
        {
            var a = Vector512.Load(acc);
            Vector512.Store(TStep.Apply(v, a), acc);
            if (index is null) return;
            var taken = Vector512.GreaterThan(v, a).AsInt32();
            Vector512.Store(Vector512.ConditionalSelect(taken, Vector512.Create(cell + ow * stride) + lanes, Vector512.Load(index + ow)), index + ow);
        }

        private static void Step<TStep>(Vector256<float> v, float* acc, int* index, int ow, int cell, Vector256<int> lanes, int stride) where TStep : struct, IPoolStep
        {
            var a = Vector256.Load(acc);
            Vector256.Store(TStep.Apply(v, a), acc);
            if (index is null) return;
            var taken = Vector256.GreaterThan(v, a).AsInt32();
            Vector256.Store(Vector256.ConditionalSelect(taken, Vector256.Create(cell + ow * stride) + lanes, Vector256.Load(index + ow)), index + ow);
        }

        /// <summary>The reference's divisor: the window clipped to the padded input, or to the real input.</summary>
        private void Divide(float* acc, int oh)
        {
            int h0 = oh * g.StrideH - g.PadH, h1 = Math.Min(h0 + g.KernelH, g.H + g.PadH);
            int rowsCounted = divisor == AvgPoolDivisor.PaddedWindow ? h1 - h0 : Math.Min(h1, g.H) - Math.Max(h0, 0);
            for (int ow = 0; ow < g.OutW; ow++)
            {
                int w0 = ow * g.StrideW - g.PadW, w1 = Math.Min(w0 + g.KernelW, g.W + g.PadW);
                int cols = divisor == AvgPoolDivisor.PaddedWindow ? w1 - w0 : Math.Min(w1, g.W) - Math.Max(w0, 0);
                acc[ow] /= rowsCounted * cols;
            }
        }
    }

    /// <summary>One step of a window reduction: the running value and the next input value.</summary>
    private interface IPoolStep
    {
        static abstract float Start { get; }
        static abstract float Apply(float v, float acc);
        static abstract Vector<float> Apply(Vector<float> v, Vector<float> acc);
        static abstract Vector256<float> Apply(Vector256<float> v, Vector256<float> acc);
        static abstract Vector512<float> Apply(Vector512<float> v, Vector512<float> acc);
    }

    /// <summary>"if (v &gt; m) m = v". MAXPS(v, acc) returns acc unless v &gt; acc, NaN and equal zeros included.</summary>
    private readonly struct MaxStep : IPoolStep
    {
        public static float Start => float.NegativeInfinity;
        public static float Apply(float v, float acc) => v > acc ? v : acc;
        public static Vector<float> Apply(Vector<float> v, Vector<float> acc) => Vector.ConditionalSelect(Vector.GreaterThan(v, acc), v, acc);
        public static Vector256<float> Apply(Vector256<float> v, Vector256<float> acc) => Avx.Max(v, acc);
        public static Vector512<float> Apply(Vector512<float> v, Vector512<float> acc) => Avx512F.Max(v, acc);
    }

    /// <summary>"sum += v".</summary>
    private readonly struct SumStep : IPoolStep
    {
        public static float Start => 0f;
        public static float Apply(float v, float acc) => acc + v;
        public static Vector<float> Apply(Vector<float> v, Vector<float> acc) => acc + v;
        public static Vector256<float> Apply(Vector256<float> v, Vector256<float> acc) => acc + v;
        public static Vector512<float> Apply(Vector512<float> v, Vector512<float> acc) => acc + v;
    }
}
