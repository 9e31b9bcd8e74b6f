using Ssd.Kernels.Core;
using Ssd.Kernels.Roofline;

namespace Ssd.Kernels.Conv;

/// <summary>
/// What each device convolution variant costs on a GPU, launch by launch, for the roofline model: flops per tile,
/// shared-memory wavefronts and issued instructions per tile (counted from the kernels' loops in Conv2dKernels,
/// Conv2dGemmKernels and Conv2dWinogradKernels), bytes through L2 and HBM. The tile constants come from the kernels
/// themselves, so the model follows the code; registers and shared memory come from ptxas (<see cref="Resources"/>).
/// </summary>
internal static class Conv2dCosts
{
    private const int Wavefront = 128;

    /// <summary>
    /// ptxas 11.8's registers and static shared memory per kernel for sm_90 (docs/kernels/ptx-report.md), the occupancy
    /// input of <see cref="Conv2dChoice"/> at run time; tests/Ssd.Tests/Ptx check these against ptxas, so a change of the
    /// kernels that moves them fails until the table follows.
    /// </summary>
    public static IReadOnlyDictionary<string, KernelResources> Resources { get; } = new Dictionary<string, KernelResources>
    {
        ["conv2d.Conv2d1"] = new(28, 0),
        ["conv2d.Conv2d2"] = new(40, 8320),
        ["conv2d.Conv2d3"] = new(38, 8320),
        ["conv2d.Conv2d4"] = new(107, 17408),
        ["conv2d.Conv2d5Input"] = new(40, 0),
        ["conv2d.Conv2d5Output"] = new(32, 0),
        ["conv2d.Conv2d6"] = new(116, 17424),
    };

    /// <summary>The launches of <paramref name="variant"/> on one convolution.</summary>
    public static IReadOnlyList<LaunchCost> Launches(Conv2dVariant variant, TensorShape input, int outC, Conv2dParams p)
    {
        var output = p.OutputShape(input, outC);
        double useful = p.Flops(input, outC);
        double bytes = 4.0 * (input.Count + output.Count + p.WeightCount(input.C, outC));
        return variant switch
        {
            Conv2dVariant.Naive => [Naive(input, output, p, useful, bytes)],
            Conv2dVariant.Tiled or Conv2dVariant.Pointwise => [Tiled(variant, input, output, p, useful, bytes)],
            Conv2dVariant.Gemm or Conv2dVariant.Tf32 => [Gemm(variant == Conv2dVariant.Tf32, input, output, p, useful)],
            Conv2dVariant.Winograd => Winograd(input, output, p, useful),
            _ => throw new ArgumentException($"conv2d costs: no model for {variant}"),
        };
    }

    private static LaunchCost Naive(TensorShape input, TensorShape output, Conv2dParams p, double useful, double bytes)
    {
        const int threads = 256;
        long k = (long)(input.C / p.Groups) * p.KernelH * p.KernelW;
        // Per multiply-add: two loads, two bounds tests, the FMA and the index steps: ~7 instructions per thread.
        return new LaunchCost("conv2d.Conv2d1", threads, (output.Count + threads - 1) / threads, MathPipe.Fp32)
        {
            FlopsPerBlock = 2.0 * threads * k,
            UsefulFlops = useful,
            IssuedPerBlock = threads / 32.0 * k * 7,
            L2Bytes = 4.0 * output.Count * 2 * k,
            DramBytes = bytes,
        };
    }

    private static LaunchCost Tiled(Conv2dVariant v, TensorShape input, TensorShape output, Conv2dParams p, double useful, double bytes)
    {
        const int tm = Conv2dKernels.TileM, tn = Conv2dKernels.TileN, tk = Conv2dKernels.TileK, threads = Conv2dKernels.TiledGroupSize, warps = threads / 32;
        long m = output.C, n = (long)output.N * output.H * output.W, k = (long)input.C * p.KernelH * p.KernelW;
        long blocks = (m + tm - 1) / tm * ((n + tn - 1) / tn), steps = (k + tk - 1) / tk;
        // Per k: each warp reads 4 A words (2 addresses: 1 wavefront each) and 4 B words (16 consecutive: 1 each).
        double sharedPerStep = (tk * warps * 8 + warps * 8) * (double)Wavefront;
        // Per warp and step: 16x16 FMAs, 128 shared loads, the gathers' index arithmetic (~30 per element, 4 A + 4 B elements).
        double issuedPerStep = warps * (tk * 16 + tk * 8 + (v == Conv2dVariant.Pointwise ? 8 * 8 : 8 * 30));
        return new LaunchCost(v == Conv2dVariant.Pointwise ? "conv2d.Conv2d3" : "conv2d.Conv2d2", threads, blocks, MathPipe.Fp32)
        {
            FlopsPerBlock = 2.0 * tm * tn * tk * steps,
            UsefulFlops = useful,
            SharedBytesPerBlock = sharedPerStep * steps,
            IssuedPerBlock = issuedPerStep * steps,
            L2Bytes = 4.0 * blocks * steps * (tm + tn) * tk,
            DramBytes = bytes,
        };
    }

    private static LaunchCost Gemm(bool tf32, TensorShape input, TensorShape output, Conv2dParams p, double useful)
    {
        const int tm = Conv2dGemmKernels.TileM, tn = Conv2dGemmKernels.TileN, tk = Conv2dGemmKernels.TileK;
        const int threads = Conv2dGemmKernels.GroupSize, warps = threads / 32;
        var g = new ConvGemmGeometry(input, output, p);
        long steps = g.KPadded / tk;
        // Staging per step: A one 128-bit store per thread (4 KB), B four word stores per thread (consecutive columns).
        double staging = (tm * tk * 4.0 / Wavefront + 4 * warps) * Wavefront;
        // FP32: per k each warp reads A as 2 float4 (2 addresses: 1 wavefront each) and B as 2 float4 (16 addresses:
        // 2 wavefronts each). TF32: per step each warp loads 16 A and 8 B fragment words, 32 banks each: 24 wavefronts.
        double compute = tf32 ? warps * 24.0 * Wavefront : tk * warps * 6.0 * Wavefront;
        // Per warp and step: FP32 512 FMAs + 32 shared loads, TF32 16 mma + 24 shared loads; both ~50 for staging
        // (one 128-bit A load, four gathers: tap load, bounds, address, load, TF32 rounding).
        double issued = warps * (tf32 ? 16 + 24 + 60 : tm * tn * tk / (double)threads + 32 + 50);
        double bytes = 4.0 * (input.Count + output.Count + (double)g.Groups * g.KPadded * g.MPadded + 2.0 * g.KPadded);
        return new LaunchCost(tf32 ? "conv2d.Conv2d6" : "conv2d.Conv2d4", threads, g.Blocks, tf32 ? MathPipe.Tf32Mma : MathPipe.Fp32)
        {
            FlopsPerBlock = 2.0 * tm * tn * tk * steps,
            UsefulFlops = useful,
            SharedBytesPerBlock = (staging + compute) * steps,
            IssuedPerBlock = issued * steps,
            L2Bytes = 4.0 * g.Blocks * steps * (tm + tn) * tk,
            DramBytes = bytes,
        };
    }

    private static IReadOnlyList<LaunchCost> Winograd(TensorShape input, TensorShape output, Conv2dParams p, double useful)
    {
        var w = new WinogradGeometry(input, output, p);
        long inThreads = (long)input.C * w.Tiles, outThreads = (long)output.C * w.Tiles;
        double v = 16.0 * 4 * inThreads, m = 16.0 * 4 * outThreads;
        var transform = Conv2dWinograd.GemmShape(input, output);
        var gemm = Gemm(false, transform.Input, transform.Output, transform.P, useful * 16 / 36.0);
        return
        [
            // Input transform: 16 loads (4x the input through L2), ~32 adds, 16 stores.
            new LaunchCost("conv2d.Conv2d5Input", 256, (inThreads + 255) / 256, MathPipe.Fp32)
            {
                FlopsPerBlock = 256 * 32, IssuedPerBlock = 8 * 110, L2Bytes = 4 * v / 4 + v, DramBytes = 4.0 * input.Count + v,
            },
            gemm with { UsefulFlops = useful },
            // Output transform: 16 loads, ~24 adds, bias, ReLU, 4 stores.
            new LaunchCost("conv2d.Conv2d5Output", 256, (outThreads + 255) / 256, MathPipe.Fp32)
            {
                FlopsPerBlock = 256 * 28, IssuedPerBlock = 8 * 90, L2Bytes = m + 4.0 * output.Count, DramBytes = m + 4.0 * output.Count,
            },
        ];
    }

    /// <summary>The model's time for a variant (its launches summed) on <paramref name="gpu"/>.</summary>
    public static double PredictSeconds(Conv2dVariant variant, TensorShape input, int outC, Conv2dParams p, GpuSpec gpu, bool graph = false) =>
        Launches(variant, input, outC, p).Sum(l => RooflineModel.Predict(l, Resources[l.Kernel], gpu, graph).Seconds);
}
