using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Ssd.Kernels.Cpu;

/// <summary>
/// The machine's FP32 peak, the yardstick of the per-layer GFLOP/s tables: 12 independent FMA chains per core (more
/// than FMA latency x throughput, so the FMA units never wait), no memory traffic. Used by `ssd bench --layers`
/// (<see cref="Measure"/>, a fraction of a second) and by bench/Ssd.Bench's FmaPeakBenchmarks. Both vector widths the
/// machine has are timed and the faster one is the peak: on Zen 4 a 512-bit FMA runs as two 256-bit halves (the two
/// widths measure alike), on Zen 5 and Intel cores with two 512-bit FMA units the 512-bit chains measure twice the
/// 256-bit ones, so a 256-bit-only figure would overstate every "% of peak" twofold there.
/// </summary>
internal static class FmaPeak
{
    public const int Chains = 12;

    /// <summary>A peak measurement: GFLOP/s on every core and the vector width (bits) that reached it.</summary>
    public readonly record struct Peak(double Gflops, int Bits)
    {
        /// <summary>For tables: "512-bit FMA chains on 2 cores".</summary>
        public string Source => $"{Bits}-bit FMA chains on {Environment.ProcessorCount} cores";
    }

    /// <summary>GFLOP/s of the FMA chains on every core at each width the machine has (512-bit with AVX-512F, 256-bit
    /// with FMA), best of <paramref name="rounds"/> per width; the faster width wins; null without FMA.</summary>
    public static Peak? Measure(int rounds = 5, int iterations = 1 << 20)
    {
        Peak? best = null;
        foreach (int bits in Widths())
        {
            double gflops = Measure(bits, rounds, iterations);
            if (best is null || gflops > best.Value.Gflops) best = new Peak(gflops, bits);
        }
        return best;
    }

    /// <summary>The FMA widths this machine runs natively, narrowest first.</summary>
    public static IEnumerable<int> Widths()
    {
        if (Fma.IsSupported) yield return 256;
        if (Avx512F.IsSupported) yield return 512;
    }

    /// <summary>GFLOP/s of the <paramref name="bits"/>-wide chains on every core, best of <paramref name="rounds"/>.</summary>
    public static double Measure(int bits, int rounds, int iterations)
    {
        if (!Widths().Contains(bits)) throw new ArgumentOutOfRangeException(nameof(bits), bits, "not an FMA width of this machine");
        int threads = Environment.ProcessorCount, lanes = bits / 32;
        double best = 0;
        for (int r = 0; r < rounds; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads },
                t => _ = bits == 512 ? Chains512(t, iterations) : Chains256(t, iterations));
            double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            best = Math.Max(best, 2.0 * lanes * Chains * iterations * threads / seconds / 1e9);
        }
        return best;
    }

    /// <summary>12 x 16 lanes x <paramref name="iterations"/> FMAs (needs AVX-512F); returns a sum so nothing is dropped.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static float Chains512(float seed, int iterations)
    {
        var m = Vector512.Create(0.999999f);
        var a = Vector512.Create(1e-7f);
        Vector512<float> c0 = Vector512.Create(seed), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (int i = 0; i < iterations; i++)
        {
            c0 = Avx512F.FusedMultiplyAdd(c0, m, a); c1 = Avx512F.FusedMultiplyAdd(c1, m, a); c2 = Avx512F.FusedMultiplyAdd(c2, m, a);
            c3 = Avx512F.FusedMultiplyAdd(c3, m, a); c4 = Avx512F.FusedMultiplyAdd(c4, m, a); c5 = Avx512F.FusedMultiplyAdd(c5, m, a);
            c6 = Avx512F.FusedMultiplyAdd(c6, m, a); c7 = Avx512F.FusedMultiplyAdd(c7, m, a); c8 = Avx512F.FusedMultiplyAdd(c8, m, a);
            c9 = Avx512F.FusedMultiplyAdd(c9, m, a); c10 = Avx512F.FusedMultiplyAdd(c10, m, a); c11 = Avx512F.FusedMultiplyAdd(c11, m, a);
        }
        return Vector512.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }

    /// <summary>12 x 8 lanes x <paramref name="iterations"/> FMAs (needs FMA).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static float Chains256(float seed, int iterations)
    {
        var m = Vector256.Create(0.999999f);
        var a = Vector256.Create(1e-7f);
        Vector256<float> c0 = Vector256.Create(seed), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (int i = 0; i < iterations; i++)
        {
            c0 = Fma.MultiplyAdd(c0, m, a); c1 = Fma.MultiplyAdd(c1, m, a); c2 = Fma.MultiplyAdd(c2, m, a);
            c3 = Fma.MultiplyAdd(c3, m, a); c4 = Fma.MultiplyAdd(c4, m, a); c5 = Fma.MultiplyAdd(c5, m, a);
            c6 = Fma.MultiplyAdd(c6, m, a); c7 = Fma.MultiplyAdd(c7, m, a); c8 = Fma.MultiplyAdd(c8, m, a);
            c9 = Fma.MultiplyAdd(c9, m, a); c10 = Fma.MultiplyAdd(c10, m, a); c11 = Fma.MultiplyAdd(c11, m, a);
        }
        return Vector256.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }
}
