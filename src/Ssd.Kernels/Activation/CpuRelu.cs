using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Activation;

/// <summary>
/// y = x &gt; 0 ? x : 0, bit for bit <see cref="ReluReference"/> (NaN and -0 give +0): MAXPS(x, 0) returns its second
/// operand unless x &gt; 0, which is that expression. For a ReLU the convolution could not fuse; safe in place.
/// </summary>
internal static unsafe class CpuRelu
{
    private const int Chunk = 16384;

    public static void Forward(ReadOnlySpan<float> x, Span<float> y, CpuOpOptions options = default)
    {
        if (y.Length != x.Length) throw new ArgumentException("relu: input and output lengths differ");
        fixed (float* px = x, py = y)
        {
            var job = new Job(px, py, x.Length, options.ResolvedIsa);
            WorkerPool.Run((x.Length + Chunk - 1) / Chunk, options.WorkersFor(x.Length), job, static (j, _, t) => j.Run(t));
        }
    }

    private readonly struct Job(float* x, float* y, int length, CpuIsa isa)
    {
        public void Run(int task)
        {
            int i = task * Chunk, end = Math.Min(length, i + Chunk);
            if (isa == CpuIsa.Avx512)
                for (; i + 16 <= end; i += 16) Vector512.Store(Avx512F.Max(Vector512.Load(x + i), Vector512<float>.Zero), y + i);
            else if (isa == CpuIsa.Avx2)
                for (; i + 8 <= end; i += 8) Vector256.Store(Avx.Max(Vector256.Load(x + i), Vector256<float>.Zero), y + i);
            else
                for (int w = Vector<float>.Count; i + w <= end; i += w)
                {
                    var v = new Vector<float>(new ReadOnlySpan<float>(x + i, w));
                    Vector.ConditionalSelect(Vector.GreaterThan(v, Vector<float>.Zero), v, Vector<float>.Zero).CopyTo(new Span<float>(y + i, w));
                }
            for (; i < end; i++) y[i] = x[i] > 0f ? x[i] : 0f;
        }
    }
}
