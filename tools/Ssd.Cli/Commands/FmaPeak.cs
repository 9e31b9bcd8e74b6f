using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Ssd.Cli.Commands;

/// <summary>
/// A quick estimate of the machine's FP32 peak for `ssd bench --layers`: 12 independent 256-bit FMA chains per core
/// (more than FMA latency x throughput, so the FMA units never wait), no memory traffic, on every core, best of a
/// few short rounds. The same method as bench/Ssd.Bench's FmaPeakBenchmarks in a fraction of a second (AVX-512 on
/// Zen 4 has the same FMA rate as AVX2, since it runs 512-bit FMAs as two halves; on cores with two 512-bit FMA
/// units this underestimates the peak: pass --peak there).
/// </summary>
internal static class FmaPeak
{
    private const int Iterations = 1 << 20;
    private const int Chains = 12;

    /// <summary>GFLOP/s on all cores, or null when the CPU has no FMA.</summary>
    public static double? Measure(int rounds = 5)
    {
        if (!Fma.IsSupported) return null;
        int threads = Environment.ProcessorCount;
        double best = 0;
        for (int r = 0; r < rounds; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t => Chains256(t));
            double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            best = Math.Max(best, 2.0 * 8 * Chains * Iterations * threads / seconds / 1e9);
        }
        return best;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains256(float seed)
    {
        var m = Vector256.Create(0.999999f);
        var a = Vector256.Create(1e-7f);
        Vector256<float> c0 = Vector256.Create(seed), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (int i = 0; i < Iterations; i++)
        {
            c0 = Fma.MultiplyAdd(c0, m, a); c1 = Fma.MultiplyAdd(c1, m, a); c2 = Fma.MultiplyAdd(c2, m, a);
            c3 = Fma.MultiplyAdd(c3, m, a); c4 = Fma.MultiplyAdd(c4, m, a); c5 = Fma.MultiplyAdd(c5, m, a);
            c6 = Fma.MultiplyAdd(c6, m, a); c7 = Fma.MultiplyAdd(c7, m, a); c8 = Fma.MultiplyAdd(c8, m, a);
            c9 = Fma.MultiplyAdd(c9, m, a); c10 = Fma.MultiplyAdd(c10, m, a); c11 = Fma.MultiplyAdd(c11, m, a);
        }
        return Vector256.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }
}
