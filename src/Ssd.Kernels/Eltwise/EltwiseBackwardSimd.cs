using System.Numerics;
using System.Runtime.Intrinsics;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Eltwise;

/// <summary>
/// Eltwise's gradients on the CPU, bit for bit <see cref="EltwiseBackwardReference"/>, in chunks of 16 K elements spread
/// over the worker threads: a sum's gradient is dy or c * dy, a product's the other inputs multiplied in input order
/// and then by dy, a max's dy routed by Caffe's mask (the same strict comparisons, a vector at a time).
/// Tensors are slices of one buffer (the backend's arena): input k is source[inputs[k] .. + count], its gradient
/// target[gradients[k] .. + count]; count is dy's length. Gradients must not overlap the inputs or dy.
/// </summary>
internal static unsafe class EltwiseBackwardSimd
{
    private const int Chunk = 16384;

    /// <remarks><paramref name="coefficients"/>: One per input, or empty for a plain sum.</remarks>
    public static void SumBackward(ReadOnlySpan<float> coefficients, ReadOnlySpan<float> dY, Span<float> target, ReadOnlySpan<int> gradients,
        CpuOpOptions options = default)
    {
        Check(gradients.Length, dY.Length, target.Length, gradients, coefficients.Length);
        fixed (float* pc = coefficients, pdy = dY, pt = target)
        fixed (int* pg = gradients)
        {
            var job = new Job(null, null, pdy, pt, pg, pc, coefficients.Length > 0, gradients.Length, dY.Length, options.ResolvedIsa);
            WorkerPool.Run(Chunks(dY.Length), options.WorkersFor((long)(gradients.Length + 1) * dY.Length), job, static (j, _, t) => j.Sum(t));
        }
    }

    public static void ProductBackward(ReadOnlySpan<float> source, ReadOnlySpan<int> inputs, ReadOnlySpan<float> dY, Span<float> target,
        ReadOnlySpan<int> gradients, CpuOpOptions options = default) =>
        Run(source, inputs, dY, target, gradients, options, product: true);

    public static void MaxBackward(ReadOnlySpan<float> source, ReadOnlySpan<int> inputs, ReadOnlySpan<float> dY, Span<float> target,
        ReadOnlySpan<int> gradients, CpuOpOptions options = default) =>
        Run(source, inputs, dY, target, gradients, options, product: false);

    private static void Run(ReadOnlySpan<float> source, ReadOnlySpan<int> inputs, ReadOnlySpan<float> dY, Span<float> target,
        ReadOnlySpan<int> gradients, CpuOpOptions options, bool product)
    {
        Check(inputs.Length, dY.Length, source.Length, inputs, 0);
        Check(gradients.Length, dY.Length, target.Length, gradients, 0);
        if (inputs.Length != gradients.Length) throw new ArgumentException($"eltwise backward: {inputs.Length} inputs but {gradients.Length} gradients");
        fixed (float* ps = source, pdy = dY, pt = target)
        fixed (int* pi = inputs, pg = gradients)
        {
            var job = new Job(ps, pi, pdy, pt, pg, null, false, inputs.Length, dY.Length, options.ResolvedIsa);
            long work = (long)(2 * inputs.Length + 1) * dY.Length;
            if (product) WorkerPool.Run(Chunks(dY.Length), options.WorkersFor(work), job, static (j, _, t) => j.Product(t));
            else WorkerPool.Run(Chunks(dY.Length), options.WorkersFor(work), job, static (j, _, t) => j.Max(t));
        }
    }

    private static int Chunks(int count) => Math.Max(1, (count + Chunk - 1) / Chunk);

    private static void Check(int tensors, int count, int bufferLength, ReadOnlySpan<int> offsets, int coefficients)
    {
        if (tensors < 2) throw new ArgumentException($"eltwise backward: needs at least two inputs, got {tensors}");
        if (coefficients != 0 && coefficients != tensors)
            throw new ArgumentException($"eltwise backward: {coefficients} coefficients for {tensors} inputs");
        foreach (int o in offsets)
            if (o < 0 || (long)o + count > bufferLength)
                throw new ArgumentException($"eltwise backward: a tensor [{o}, +{count}) lies outside its {bufferLength}-float buffer");
    }

    private readonly struct Job(float* source, int* inputs, float* dy, float* target, int* gradients, float* coefficients, bool weighted,
        int k, int count, CpuIsa isa)
    {
        public void Sum(int task)
        {
            int i0 = task * Chunk, n = Math.Min(Chunk, count - i0);
            for (int t = 0; t < k; t++)
            {
                float* dx = target + gradients[t] + i0;
                if (!weighted || coefficients[t] == 1f) new ReadOnlySpan<float>(dy + i0, n).CopyTo(new Span<float>(dx, n));
                else SimdMath.Scale(dy + i0, coefficients[t], dx, n, isa);
            }
        }

        public void Product(int task)
        {
            int i0 = task * Chunk, n = Math.Min(Chunk, count - i0);
            for (int t = 0; t < k; t++)
            {
                float* dx = target + gradients[t] + i0;
                int first = t == 0 ? 1 : 0;
                new ReadOnlySpan<float>(source + inputs[first] + i0, n).CopyTo(new Span<float>(dx, n));
                for (int j = first + 1; j < k; j++)
                    if (j != t) SimdMath.Multiply(dx, dx, source + inputs[j] + i0, n, isa);
                SimdMath.Multiply(dx, dx, dy + i0, n, isa);
            }
        }

        public void Max(int task)
        {
            int i0 = task * Chunk, n = Math.Min(Chunk, count - i0);
            float* x0 = source + inputs[0] + i0, x1 = source + inputs[1] + i0;
            int i = 0;
            if (isa == CpuIsa.Avx512)
                for (; i + 16 <= n; i += 16)
                {
                    var a = Vector512.Load(x0 + i);
                    var b = Vector512.Load(x1 + i);
                    var gt = Vector512.GreaterThan(a, b);
                    var m = Vector512.ConditionalSelect(gt, a, b);
                    var win = Vector512.ConditionalSelect(gt.AsInt32(), Vector512<int>.Zero, Vector512<int>.One);
                    for (int t = 2; t < k; t++)
                    {
                        var v = Vector512.Load(source + inputs[t] + i0 + i);
                        var better = Vector512.GreaterThan(v, m);
                        m = Vector512.ConditionalSelect(better, v, m);
                        win = Vector512.ConditionalSelect(better.AsInt32(), Vector512.Create(t), win);
                    }
                    var g = Vector512.Load(dy + i0 + i);
                    for (int t = 0; t < k; t++)
                        Vector512.Store(Vector512.ConditionalSelect(Vector512.Equals(win, Vector512.Create(t)).AsSingle(), g, default),
                            target + gradients[t] + i0 + i);
                }
            else if (isa == CpuIsa.Avx2)
                for (; i + 8 <= n; i += 8)
                {
                    var a = Vector256.Load(x0 + i);
                    var b = Vector256.Load(x1 + i);
                    var gt = Vector256.GreaterThan(a, b);
                    var m = Vector256.ConditionalSelect(gt, a, b);
                    var win = Vector256.ConditionalSelect(gt.AsInt32(), Vector256<int>.Zero, Vector256<int>.One);
                    for (int t = 2; t < k; t++)
                    {
                        var v = Vector256.Load(source + inputs[t] + i0 + i);
                        var better = Vector256.GreaterThan(v, m);
                        m = Vector256.ConditionalSelect(better, v, m);
                        win = Vector256.ConditionalSelect(better.AsInt32(), Vector256.Create(t), win);
                    }
                    var g = Vector256.Load(dy + i0 + i);
                    for (int t = 0; t < k; t++)
                        Vector256.Store(Vector256.ConditionalSelect(Vector256.Equals(win, Vector256.Create(t)).AsSingle(), g, default),
                            target + gradients[t] + i0 + i);
                }
            else
                for (int w = Vector<float>.Count; i + w <= n; i += w)
                {
                    var a = Vector.Load(x0 + i);
                    var b = Vector.Load(x1 + i);
                    var gt = Vector.GreaterThan(a, b);
                    var m = Vector.ConditionalSelect(gt, a, b);
                    var win = Vector.ConditionalSelect(gt, Vector<int>.Zero, Vector<int>.One);
                    for (int t = 2; t < k; t++)
                    {
                        var v = Vector.Load(source + inputs[t] + i0 + i);
                        var better = Vector.GreaterThan(v, m);
                        m = Vector.ConditionalSelect(better, v, m);
                        win = Vector.ConditionalSelect(better, new Vector<int>(t), win);
                    }
                    var g = Vector.Load(dy + i0 + i);
                    for (int t = 0; t < k; t++)
                        Vector.Store(Vector.ConditionalSelect(Vector.Equals(win, new Vector<int>(t)), g, default), target + gradients[t] + i0 + i);
                }
            for (; i < n; i++)
            {
                int win = x0[i] > x1[i] ? 0 : 1;
                float m = win == 0 ? x0[i] : x1[i];
                for (int t = 2; t < k; t++)
                {
                    float v = source[inputs[t] + i0 + i];
                    if (v > m) { m = v; win = t; }
                }
                for (int t = 0; t < k; t++) target[gradients[t] + i0 + i] = t == win ? dy[i0 + i] : 0f;
            }
        }
    }
}
