using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Eltwise;

/// <summary>
/// Eltwise (sum with optional coefficients, product, max) over two or more inputs, bit for bit
/// <see cref="EltwiseReference"/>: each chunk of elements runs through all inputs in registers, left to right, a
/// multiply then an add per term (no FMA); max is MAXPS(a, b), which is exactly Caffe's "a &gt; b ? a : b" (the
/// second operand on ties and NaN). Input k is source[offsets[k] ..] (slices of one buffer, e.g. the arena); y may be
/// the first input, not a later one.
/// </summary>
internal static unsafe class CpuEltwise
{
    private const int Chunk = 8192;

    public static void Forward(EltwiseMode mode, ReadOnlySpan<float> source, ReadOnlySpan<int> offsets, ReadOnlySpan<float> coefficients,
        Span<float> y, CpuOpOptions options = default)
    {
        EltwiseChecks.Arguments(mode, offsets.Length, coefficients.Length);
        foreach (int at in offsets)
            if (at < 0 || (long)at + y.Length > source.Length)
                throw new ArgumentException($"eltwise: input [{at}, +{y.Length}) lies outside the {source.Length} source floats");
        int inputs = offsets.Length;
        fixed (float* ps = source, py = y, pc = coefficients)
        {
            float** x = stackalloc float*[inputs];
            for (int k = 0; k < inputs; k++) x[k] = ps + offsets[k];
            var job = new Job(x, inputs, py, y.Length, mode, coefficients.Length > 0 ? pc : null, options.ResolvedIsa);
            WorkerPool.Run((y.Length + Chunk - 1) / Chunk, options.WorkersFor((long)y.Length * (inputs + 1)), job, static (j, _, t) => j.Run(t));
        }
    }

    /// <summary>The same over separate arrays (tests, callers outside an arena).</summary>
    public static void Forward(EltwiseMode mode, IReadOnlyList<float[]> inputs, ReadOnlySpan<float> coefficients, Span<float> y,
        CpuOpOptions options = default)
    {
        foreach (var x in inputs)
            if (x.Length != y.Length) throw new ArgumentException($"eltwise: an input has {x.Length} floats, the output {y.Length}");
        var joined = new float[inputs.Sum(x => x.Length)];
        var offsets = new int[inputs.Count];
        for (int k = 0, at = 0; k < inputs.Count; at += inputs[k].Length, k++) { offsets[k] = at; inputs[k].CopyTo(joined, at); }
        Forward(mode, joined, offsets, coefficients, y, options);
    }

    private readonly struct Job(float** x, int inputs, float* y, int length, EltwiseMode mode, float* c, CpuIsa isa)
    {
        public void Run(int task)
        {
            int i = task * Chunk, end = Math.Min(length, i + Chunk);
            if (isa == CpuIsa.Avx512)
                for (; i + 16 <= end; i += 16)
                {
                    var acc = c is null ? First(Vector512.Load(x[0] + i), Vector512.Load(x[1] + i))
                        : Vector512.Create(c[0]) * Vector512.Load(x[0] + i) + Vector512.Create(c[1]) * Vector512.Load(x[1] + i);
                    for (int k = 2; k < inputs; k++)
                        acc = c is null ? Next(acc, Vector512.Load(x[k] + i)) : acc + Vector512.Create(c[k]) * Vector512.Load(x[k] + i);
                    Vector512.Store(acc, y + i);
                }
            else if (isa == CpuIsa.Avx2)
                for (; i + 8 <= end; i += 8)
                {
                    var acc = c is null ? First(Vector256.Load(x[0] + i), Vector256.Load(x[1] + i))
                        : Vector256.Create(c[0]) * Vector256.Load(x[0] + i) + Vector256.Create(c[1]) * Vector256.Load(x[1] + i);
                    for (int k = 2; k < inputs; k++)
                        acc = c is null ? Next(acc, Vector256.Load(x[k] + i)) : acc + Vector256.Create(c[k]) * Vector256.Load(x[k] + i);
                    Vector256.Store(acc, y + i);
                }
            else
                for (int w = Vector<float>.Count; i + w <= end; i += w)
                {
                    var acc = c is null ? First(V(x[0] + i), V(x[1] + i)) : new Vector<float>(c[0]) * V(x[0] + i) + new Vector<float>(c[1]) * V(x[1] + i);
                    for (int k = 2; k < inputs; k++) acc = c is null ? Next(acc, V(x[k] + i)) : acc + new Vector<float>(c[k]) * V(x[k] + i);
                    acc.CopyTo(new Span<float>(y + i, w));
                }
            for (; i < end; i++)
            {
                float acc = c is null ? EltwiseReference.First(mode, x[0][i], x[1][i]) : EltwiseReference.WeightedFirst(x[0][i], x[1][i], c[0], c[1]);
                for (int k = 2; k < inputs; k++)
                    acc = c is null ? EltwiseReference.Next(mode, acc, x[k][i]) : EltwiseReference.WeightedNext(acc, x[k][i], c[k]);
                y[i] = acc;
            }
        }

        private static Vector<float> V(float* p) => new(new ReadOnlySpan<float>(p, Vector<float>.Count));

        private Vector512<float> First(Vector512<float> a, Vector512<float> b) =>
            mode == EltwiseMode.Sum ? a + b : mode == EltwiseMode.Product ? a * b : Avx512F.Max(a, b);
        private Vector512<float> Next(Vector512<float> acc, Vector512<float> x) =>
            mode == EltwiseMode.Sum ? acc + x : mode == EltwiseMode.Product ? acc * x : Avx512F.Max(x, acc);
        private Vector256<float> First(Vector256<float> a, Vector256<float> b) =>
            mode == EltwiseMode.Sum ? a + b : mode == EltwiseMode.Product ? a * b : Avx.Max(a, b);
        private Vector256<float> Next(Vector256<float> acc, Vector256<float> x) =>
            mode == EltwiseMode.Sum ? acc + x : mode == EltwiseMode.Product ? acc * x : Avx.Max(x, acc);
        private Vector<float> First(Vector<float> a, Vector<float> b) =>
            mode == EltwiseMode.Sum ? a + b : mode == EltwiseMode.Product ? a * b : Vector.ConditionalSelect(Vector.GreaterThan(a, b), a, b);
        private Vector<float> Next(Vector<float> acc, Vector<float> x) =>
            mode == EltwiseMode.Sum ? acc + x : mode == EltwiseMode.Product ? acc * x : Vector.ConditionalSelect(Vector.GreaterThan(x, acc), x, acc);
    }
}
