using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Activation;

/// <summary>
/// ReLU's backward on the CPU, bit for bit <see cref="ReluBackwardReference"/>: the lanes where y &lt;= 0 (an ordered
/// compare, so a NaN y keeps dy) are cleared from dy. Multithreaded in chunks; safe in place (dx may be dy).
/// </summary>
internal static unsafe class ReluBackwardSimd
{
    private const int Chunk = 16384;

    public static void Backward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, CpuOpOptions options = default)
    {
        if (dy.Length != y.Length || dx.Length != y.Length) throw new ArgumentException("relu backward: output, gradient and input gradient lengths differ");
        fixed (float* py = y, pdy = dy, pdx = dx)
        {
            var job = new Job(py, pdy, pdx, y.Length, options.ResolvedIsa);
            WorkerPool.Run((y.Length + Chunk - 1) / Chunk, options.WorkersFor(2L * y.Length), job, static (j, _, t) => j.Run(t));
        }
    }

    private readonly struct Job(float* y, float* dy, float* dx, int length, CpuIsa isa)
    {
        public void Run(int task)
        {
            int i = task * Chunk, end = Math.Min(length, i + Chunk);
            if (isa == CpuIsa.Avx512)
                for (; i + 16 <= end; i += 16)
                {
                    var off = Avx512F.CompareLessThanOrEqual(Vector512.Load(y + i), Vector512<float>.Zero);
                    Vector512.Store(Vector512.AndNot(Vector512.Load(dy + i), off), dx + i);
                }
            else if (isa == CpuIsa.Avx2)
                for (; i + 8 <= end; i += 8)
                {
                    var off = Avx.Compare(Vector256.Load(y + i), Vector256<float>.Zero, FloatComparisonMode.OrderedLessThanOrEqualNonSignaling);
                    Vector256.Store(Vector256.AndNot(Vector256.Load(dy + i), off), dx + i);
                }
            else
                for (int w = Vector<float>.Count; i + w <= end; i += w)
                {
                    var off = Vector.LessThanOrEqual(new Vector<float>(new ReadOnlySpan<float>(y + i, w)), Vector<float>.Zero);
                    Vector.AndNot(new Vector<float>(new ReadOnlySpan<float>(dy + i, w)), off.As<int, float>()).CopyTo(new Span<float>(dx + i, w));
                }
            for (; i < end; i++) dx[i] = y[i] <= 0f ? 0f : dy[i];
        }
    }
}
