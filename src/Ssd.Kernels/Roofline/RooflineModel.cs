namespace Ssd.Kernels.Roofline;

/// <summary>What ptxas says one kernel needs per thread and per block: the inputs of occupancy.</summary>
internal readonly record struct KernelResources(int Registers, int SharedBytes);

/// <summary>Which pipe executes a launch's arithmetic.</summary>
internal enum MathPipe { Fp32, Tf32Mma }

/// <summary>
/// One kernel launch as the roofline model sees it: the kernel (for its <see cref="KernelResources"/>), threads per
/// block and blocks, and per block the arithmetic, the shared-memory wavefronts and the issued instructions; for the
/// whole launch the bytes through L2 and the bytes to and from HBM.
/// </summary>
internal sealed record LaunchCost(string Kernel, int Threads, long Blocks, MathPipe Pipe)
{
    /// <summary>Flops executed per block (padding of partial tiles included: the hardware does that work).</summary>
    public double FlopsPerBlock { get; init; }
    /// <summary>Flops the layer needs (2 per multiply-add of the convolution), for utilisation figures.</summary>
    public double UsefulFlops { get; init; }
    /// <summary>Shared-memory bytes per block counted in 128-byte wavefronts (a broadcast costs one wavefront).</summary>
    public double SharedBytesPerBlock { get; init; }
    /// <summary>Warp instructions per block that are not the math itself (loads, address arithmetic), for issue-bound kernels.</summary>
    public double IssuedPerBlock { get; init; }
    public double L2Bytes { get; init; }
    public double DramBytes { get; init; }
    /// <summary>A serial chain's duration (a greedy NMS scan), when that, not throughput, bounds the launch.</summary>
    public double LatencySeconds { get; init; }
}

/// <summary>A launch's prediction: occupancy, waves, each bound and the time.</summary>
internal sealed record LaunchPrediction(LaunchCost Cost, KernelResources Resources, int BlocksPerSm, string Limiter, long Waves,
    double MathSeconds, double SharedSeconds, double IssueSeconds, double L2Seconds, double DramSeconds, double Seconds)
{
    public string Bound => new[] { ("math", MathSeconds), ("shared", SharedSeconds), ("issue", IssueSeconds), ("L2", L2Seconds), ("HBM", DramSeconds), ("latency", Cost.LatencySeconds) }
        .MaxBy(b => b.Item2).Item1;
}

/// <summary>
/// The roofline model: from ptxas' registers and shared memory per block, occupancy (blocks per SM, the limiting
/// resource); blocks run in waves of Sms x blocks-per-SM; a wave lasts as long as its slowest pipe needs for the
/// blocks one SM holds (FP32 or tensor-core math, shared-memory wavefronts, instruction issue); the launch takes the
/// longest of the waves' sum, its L2 traffic over L2 bandwidth and its HBM traffic over HBM bandwidth, plus a fixed
/// launch cost. No overlap between launches, no cache model beyond "each tensor once through HBM".
/// </summary>
internal static class RooflineModel
{
    public static LaunchPrediction Predict(LaunchCost c, KernelResources r, GpuSpec gpu, bool graph = false)
    {
        var (perSm, limiter) = Occupancy(c.Threads, r, gpu);
        long concurrent = (long)perSm * gpu.Sms;
        long waves = (c.Blocks + concurrent - 1) / concurrent;
        // A wave keeps min(blocks, concurrent) blocks busy; each SM runs up to perSm of them at once.
        long perSmInWave = Math.Min(perSm, (Math.Min(c.Blocks, concurrent) + gpu.Sms - 1) / gpu.Sms);
        double mathRate = c.Pipe == MathPipe.Fp32 ? gpu.Fp32FlopsPerSm : gpu.Tf32Flops * gpu.MmaSyncFraction / gpu.Sms;
        double math = waves * perSmInWave * c.FlopsPerBlock / mathRate;
        double shared = waves * perSmInWave * c.SharedBytesPerBlock / gpu.SharedBytesPerSecondPerSm;
        double issue = waves * perSmInWave * c.IssuedPerBlock / gpu.IssuePerSecondPerSm;
        double l2 = c.L2Bytes / gpu.L2BytesPerSecond;
        double dram = c.DramBytes / gpu.DramBytesPerSecond;
        double seconds = Math.Max(Math.Max(Math.Max(math, shared), Math.Max(issue, Math.Max(l2, dram))), c.LatencySeconds)
            + (graph ? gpu.GraphLaunchSeconds : gpu.LaunchSeconds);
        return new LaunchPrediction(c, r, perSm, limiter, waves, math, shared, issue, l2, dram, seconds);
    }

    /// <summary>Resident blocks per SM and what limits them (threads, registers, shared memory or the block limit).</summary>
    public static (int Blocks, string Limiter) Occupancy(int threads, KernelResources r, GpuSpec gpu)
    {
        int warps = (threads + 31) / 32;
        int byThreads = gpu.MaxThreadsPerSm / (warps * 32);
        int regsPerWarp = (Math.Max(r.Registers, 1) * 32 + gpu.RegisterAllocationUnit - 1) / gpu.RegisterAllocationUnit * gpu.RegisterAllocationUnit;
        int byRegisters = gpu.RegistersPerSm / (regsPerWarp * warps);
        int byShared = r.SharedBytes == 0 ? int.MaxValue : gpu.SharedBytesPerSm / (r.SharedBytes + gpu.SharedReservedPerBlock);
        var limits = new[] { (byThreads, "threads"), (byRegisters, "registers"), (byShared, "shared memory"), (gpu.MaxBlocksPerSm, "blocks") };
        var (blocks, limiter) = limits.MinBy(l => l.Item1);
        if (blocks < 1) throw new ArgumentException($"a block of {threads} threads with {r.Registers} registers and {r.SharedBytes} B of shared memory does not fit on one SM");
        return (blocks, limiter);
    }

    /// <summary>A memory-bound launch (element-wise, layout, pooling, normalisation): one thread per element.</summary>
    public static LaunchCost Streaming(string kernel, long elements, double bytesRead, double bytesWritten, int threads = 256, double flopsPerElement = 1) =>
        new(kernel, threads, Math.Max(1, (elements + threads - 1) / threads), MathPipe.Fp32)
        {
            FlopsPerBlock = threads * flopsPerElement,
            UsefulFlops = elements * flopsPerElement,
            IssuedPerBlock = threads / 32.0 * 12,
            L2Bytes = bytesRead + bytesWritten,
            DramBytes = bytesRead + bytesWritten,
        };
}
