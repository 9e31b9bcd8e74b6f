using System.Runtime.Intrinsics.X86;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Ssd.Kernels.Cpu;

namespace Ssd.Bench;

/// <summary>
/// The machine's FP32 peak: independent FMA chains (more than latency x throughput, so the FMA ports never wait)
/// on every core, no memory traffic (the chains are <see cref="FmaPeak"/>'s). The conv numbers are reported as a percentage of this.
/// </summary>
[Config(typeof(Config))]
public unsafe class FmaPeakBenchmarks
{
    private const int Iterations = 1 << 22;
    private const int Chains = FmaPeak.Chains;
    private static int Threads => Environment.ProcessorCount;

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(2).WithIterationCount(5).WithLaunchCount(1));
            AddColumn(new GflopsColumn(b => 2.0 * Chains * Iterations * Threads * (b.Descriptor.WorkloadMethod.Name == nameof(Avx2Fma) ? 8 : 16)
                / (b.Descriptor.WorkloadMethod.Name == nameof(Avx512OneCore) ? Threads : 1)));
        }
    }

    [Benchmark]
    public float Avx512() => Run(Avx512F.IsSupported ? &Chains512 : null);

    [Benchmark]
    public float Avx2Fma() => Run(Fma.IsSupported ? &Chains256 : null);

    /// <summary>One core alone: peak per core, to tell a busy machine (the second core taken by others) from a slow one.</summary>
    [Benchmark]
    public float Avx512OneCore() => Avx512F.IsSupported ? Chains512(1f) : float.NaN;

    private static unsafe float Run(delegate*<float, float> body)
    {
        if (body == null) return float.NaN;
        var results = new float[Threads];
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t => results[t] = body(t));
        return results.Sum();
    }

    private static float Chains512(float seed) => FmaPeak.Chains512(seed, Iterations);

    private static float Chains256(float seed) => FmaPeak.Chains256(seed, Iterations);
}
