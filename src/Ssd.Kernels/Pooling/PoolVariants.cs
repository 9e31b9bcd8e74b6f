using Ssd.Kernels.Core;

namespace Ssd.Kernels.Pooling;

/// <summary>A pooling step: the geometry, max or average, and (average) which window size divides.</summary>
public sealed record PoolParams(PoolGeometry Geometry, bool Max, AvgPoolDivisor Divisor = AvgPoolDivisor.PaddedWindow)
{
    public override string ToString() => $"{(Max ? "max" : "avg " + Divisor)} pool {Geometry.Input} k{Geometry.KernelH}x{Geometry.KernelW} s{Geometry.StrideH} p{Geometry.PadH}";
}

/// <summary>
/// The Pooling family: max and average pooling by <see cref="PoolReference"/>, the CPU backend's
/// <see cref="CpuPooling"/> (bit for bit) and the ILGPU kernels (max bit for bit; average within a float32 rounding of
/// the division). Training-mode max pooling saves the argmax of each window for backward.
/// </summary>
public static class PoolVariants
{
    public static readonly OpFamily<PoolParams> Pool = new()
    {
        Name = "pool",
        Forward = static (p, x, y) =>
        {
            if (p.Max) PoolReference.Max(p.Geometry, x[0], y[0]);
            else PoolReference.Average(p.Geometry, p.Divisor, x[0], y[0]);
        },
        Saved = static p => p.Max ? [p.Geometry.Output.Count] : [],
        BackwardReads = static p => p.Max ? [OpValue.Saved()] : [],
        Variants =
        [
            OpVariant<PoolParams>.Cpu("cpu.simd", OpPass.Forward, static (p, b, c) => new LaunchExecutor(p.Max
                ? () => CpuPooling.Max(p.Geometry, c.Span(b.Input), c.Span(b.Output), c.Options)
                : () => CpuPooling.Average(p.Geometry, p.Divisor, c.Span(b.Input), c.Span(b.Output), c.Options))) with { IsDefault = true },
            OpVariant<PoolParams>.Ilgpu("pooling.max.1", OpPass.Forward, static (p, b, c) =>
            {
                var (op, x, y) = (new PoolOp(c.Device), c.View(b.Input), c.View(b.Output));
                return new LaunchExecutor(() => op.Max(p.Geometry, x, y, c.Stream));
            }) with { IsDefault = true, Applies = static p => p.Max },
            OpVariant<PoolParams>.Ilgpu("pooling.avg.1", OpPass.Forward, static (p, b, c) =>
            {
                var (op, x, y) = (new PoolOp(c.Device), c.View(b.Input), c.View(b.Output));
                return new LaunchExecutor(() => op.Average(p.Geometry, p.Divisor, x, y, c.Stream));
            }) with { IsDefault = true, Applies = static p => !p.Max, Bound = new ErrorBound(1e-6f, 1e-6f) },
        ],
    };
}
