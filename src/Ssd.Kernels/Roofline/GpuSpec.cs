namespace Ssd.Kernels.Roofline;

/// <summary>
/// The numbers of a GPU that the roofline model (<see cref="RooflineModel"/>) predicts kernel times from. Each is a
/// datasheet figure or an assumption named in <see cref="Assumptions"/>; docs/kernels/gpu-roofline.md prints them all.
/// </summary>
internal sealed record GpuSpec
{
    public required string Name { get; init; }
    public required int Sms { get; init; }
    /// <summary>Core clock the rates below are quoted at (Hz).</summary>
    public required double ClockHz { get; init; }
    public required int SharedBytesPerSm { get; init; }
    /// <summary>Shared memory the driver reserves per resident block (1 KB on sm_80/sm_90).</summary>
    public int SharedReservedPerBlock { get; init; } = 1024;
    public required int RegistersPerSm { get; init; }
    /// <summary>Registers are allocated per warp in units of this many (256 on sm_70..sm_90).</summary>
    public int RegisterAllocationUnit { get; init; } = 256;
    public int MaxThreadsPerSm { get; init; } = 2048;
    public int MaxBlocksPerSm { get; init; } = 32;
    /// <summary>Plain FP32 FMA rate (flop/s, 2 per FMA).</summary>
    public required double Fp32Flops { get; init; }
    /// <summary>Dense TF32 tensor-core rate (flop/s).</summary>
    public required double Tf32Flops { get; init; }
    /// <summary>The fraction of <see cref="Tf32Flops"/> that warp-level mma.sync reaches (Hopper's full rate needs wgmma).</summary>
    public required double MmaSyncFraction { get; init; }
    public required double DramBytesPerSecond { get; init; }
    public required double L2BytesPerSecond { get; init; }
    /// <summary>Shared-memory bandwidth per SM: 32 banks of 4 bytes, one wavefront per clock.</summary>
    public int SharedBytesPerClockPerSm { get; init; } = 128;
    /// <summary>Warp instructions the SM issues per clock (4 schedulers).</summary>
    public int IssuePerClockPerSm { get; init; } = 4;
    /// <summary>Fixed cost of one kernel on a stream: launch, ramp-up and tail (s).</summary>
    public required double LaunchSeconds { get; init; }
    /// <summary>The same when the launches are replayed from a captured CUDA graph (s).</summary>
    public required double GraphLaunchSeconds { get; init; }
    /// <summary>The figures above that are assumptions, not datasheet numbers, with why.</summary>
    public required IReadOnlyList<string> Assumptions { get; init; }

    public double Fp32FlopsPerSm => Fp32Flops / Sms;
    public double SharedBytesPerSecondPerSm => SharedBytesPerClockPerSm * ClockHz;
    public double IssuePerSecondPerSm => IssuePerClockPerSm * ClockHz;

    /// <summary>
    /// NVIDIA H100 SXM5 (80 GB HBM3): 132 SMs, 228 KB shared memory and 65,536 registers per SM, 67 TFLOP/s FP32,
    /// 494.7 TFLOP/s dense TF32, 3.35 TB/s HBM3 (datasheet), 1.98 GHz boost.
    /// </summary>
    public static GpuSpec H100 { get; } = new()
    {
        Name = "NVIDIA H100 SXM5 80 GB",
        Sms = 132,
        ClockHz = 1.98e9,
        SharedBytesPerSm = 228 * 1024,
        RegistersPerSm = 65536,
        Fp32Flops = 67e12,
        Tf32Flops = 494.7e12,
        MmaSyncFraction = 0.5,
        DramBytesPerSecond = 3.35e12,
        L2BytesPerSecond = 5.5e12,
        LaunchSeconds = 3e-6,
        GraphLaunchSeconds = 1.5e-6,
        Assumptions =
        [
            "mma.sync reaches 50% of the dense TF32 rate on Hopper: the full rate is wgmma's (sm_90a), which ILGPU's PTX (ISA 7.8, .target sm_80) cannot express; microbenchmarks of legacy mma on H100/H800 report roughly half",
            "L2 bandwidth 5.5 TB/s (not on the datasheet; published microbenchmarks of H100 L2 read bandwidth)",
            "3 us per kernel on a stream (launch, ramp-up, tail between dependent kernels), 1.5 us per kernel replayed from a CUDA graph",
            "each tensor is read from and written to HBM once per kernel (L2 keeps a kernel's reused input tiles); im2col re-reads and tile re-reads count against L2, not HBM",
        ],
    };

    /// <summary>NVIDIA H200 SXM (141 GB HBM3e): the H100's SMs and rates with 4.8 TB/s memory (datasheet).</summary>
    public static GpuSpec H200 { get; } = H100 with { Name = "NVIDIA H200 SXM 141 GB", DramBytesPerSecond = 4.8e12 };
}
