using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Conv;

/// <summary>How a <see cref="CpuConv2d"/> layer computes its convolution.</summary>
internal enum CpuConvAlgorithm
{
    /// <summary>Pick per layer: Winograd F(4x4) for wide 3x3 stride-1 dilation-1 ungrouped convs on images where it does less work (<see cref="CpuConv2d.AlgorithmFor"/>), else GEMM.</summary>
    Auto,
    /// <summary>Packed-weight GEMM; im2col packing of the input (none for 1x1 stride-1 convs).</summary>
    Gemm,
    /// <summary>Winograd F(2x2, 3x3): 2.25x fewer multiplies; only for 3x3, stride 1, dilation 1.</summary>
    Winograd,
    /// <summary>Winograd F(4x4, 3x3): 4x fewer multiplies; only for 3x3, stride 1, dilation 1.</summary>
    Winograd4x4,
    /// <summary>A plain direct loop; only for depthwise convs (one input channel per group).</summary>
    Direct,
}

/// <summary>
/// Options for a <see cref="CpuConv2d"/> layer. Null ISA means the best this CPU supports. <paramref name="PlannedInput"/>:
/// the input shape the layer will always see (the engine plans one per network); Auto then resolves to one
/// algorithm at load and packs only its weights (Auto without it keeps GEMM and F(4x4) weights, ~5x the plain size).
/// </summary>
internal sealed record CpuConvOptions(CpuIsa? Isa = null, CpuConvAlgorithm Algorithm = CpuConvAlgorithm.Auto, int? Threads = null,
    TensorShape? PlannedInput = null)
{
    public static readonly CpuConvOptions Default = new();
}
