using System.Runtime.InteropServices;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Pooling;

/// <summary>A pooling step: the geometry, max or average, and (average) which window size divides.</summary>
internal sealed record PoolParams(PoolGeometry Geometry, bool Max, AvgPoolDivisor Divisor = AvgPoolDivisor.PaddedWindow)
{
    public override string ToString() => $"{(Max ? "max" : "avg " + Divisor)} pool {Geometry.Input} k{Geometry.KernelH}x{Geometry.KernelW} s{Geometry.StrideH} p{Geometry.PadH}";
}

/// <summary>
/// The Pooling family: max and average pooling by <see cref="PoolReference"/>, the CPU backend's
/// <see cref="CpuPooling"/> (bit for bit) and the ILGPU kernels (max bit for bit; average within a float32 rounding of
/// the division). Training-mode max pooling saves the argmax of each window for backward: a second forward output,
/// the index inside the input plane of each window's first maximum, its int32 bits in the float slot
/// (<see cref="PoolBackwardReference.MaxWithArgmax"/>). Backward (<see cref="PoolBackwardReference"/>, every variant
/// bit for bit): max reads the argmax and dy, average dy alone; the output is dx.
/// </summary>
internal static class PoolVariants
{
    public static readonly OpFamily<PoolParams> Pool = new()
    {
        Name = "pool",
        Forward = static (p, x, y) =>
        {
            if (p.Max && y.Length > 1) PoolBackwardReference.MaxWithArgmax(p.Geometry, x[0], y[0], MemoryMarshal.Cast<float, int>(y[1].AsSpan()));
            else if (p.Max) PoolReference.Max(p.Geometry, x[0], y[0]);
            else PoolReference.Average(p.Geometry, p.Divisor, x[0], y[0]);
        },
        Backward = static (p, r, g) =>
        {
            if (p.Max) PoolBackwardReference.MaxBackward(p.Geometry, MemoryMarshal.Cast<float, int>(r[0].AsSpan()), r[1], g[0]);
            else PoolBackwardReference.AverageBackward(p.Geometry, p.Divisor, r[0], g[0]);
        },
        Saved = static p => p.Max ? [p.Geometry.Output.Count] : [],
        BackwardReads = static p => p.Max ? [OpValue.Saved()] : [],
        Variants =
        [
            OpVariant<PoolParams>.Cpu("cpu.simd", OpPass.Forward, static (p, b, c) => new LaunchExecutor(
                p.Max && b.Outputs.Length > 1 ? () => CpuPooling.MaxWithArgmax(p.Geometry, c.Span(b.Input), c.Span(b.Output),
                    MemoryMarshal.Cast<float, int>(c.Span(b.Outputs[1])), c.Options)
                : p.Max ? () => CpuPooling.Max(p.Geometry, c.Span(b.Input), c.Span(b.Output), c.Options)
                : () => CpuPooling.Average(p.Geometry, p.Divisor, c.Span(b.Input), c.Span(b.Output), c.Options))) with { IsDefault = true, SavesForBackward = true },
            OpVariant<PoolParams>.Ilgpu("pooling.max.1", OpPass.Forward, static (p, b, c) =>
            {
                var (x, y) = (c.View(b.Input), c.View(b.Output));
                if (b.Outputs.Length > 1)
                {
                    var (training, argmax) = (new PoolBackwardOp(c.Device), c.View(b.Outputs[1]).Cast<int>());
                    return new LaunchExecutor(() => training.MaxWithArgmax(p.Geometry, x, y, argmax, c.Stream));
                }
                var op = new PoolOp(c.Device);
                return new LaunchExecutor(() => op.Max(p.Geometry, x, y, c.Stream));
            }) with { IsDefault = true, Applies = static p => p.Max, SavesForBackward = true },
            OpVariant<PoolParams>.Ilgpu("pooling.avg.1", OpPass.Forward, static (p, b, c) =>
            {
                var (op, x, y) = (new PoolOp(c.Device), c.View(b.Input), c.View(b.Output));
                return new LaunchExecutor(() => op.Average(p.Geometry, p.Divisor, x, y, c.Stream));
            }) with { IsDefault = true, Applies = static p => !p.Max, Bound = new ErrorBound(1e-6f, 1e-6f) },
            OpVariant<PoolParams>.Cpu("cpu.simd", OpPass.Backward, static (p, b, c) => new LaunchExecutor(p.Max
                ? () => PoolBackwardSimd.MaxBackward(p.Geometry, MemoryMarshal.Cast<float, int>(c.Span(b.Inputs[0])), c.Span(b.Inputs[1]), c.Span(b.Output), c.Options)
                : () => PoolBackwardSimd.AverageBackward(p.Geometry, p.Divisor, c.Span(b.Inputs[0]), c.Span(b.Output), c.Options))) with { IsDefault = true },
            OpVariant<PoolParams>.Ilgpu("pooling.max.backward.1", OpPass.Backward, static (p, b, c) =>
            {
                var (op, argmax, dy, dx) = (new PoolBackwardOp(c.Device), c.View(b.Inputs[0]).Cast<int>(), c.View(b.Inputs[1]), c.View(b.Output));
                return new LaunchExecutor(() => op.MaxBackward(p.Geometry, argmax, dy, dx, c.Stream));
            }) with { IsDefault = true, Applies = static p => p.Max },
            OpVariant<PoolParams>.Ilgpu("pooling.avg.backward.1", OpPass.Backward, static (p, b, c) =>
            {
                var (op, dy, dx) = (new PoolBackwardOp(c.Device), c.View(b.Inputs[0]), c.View(b.Output));
                return new LaunchExecutor(() => op.AverageBackward(p.Geometry, p.Divisor, dy, dx, c.Stream));
            }) with { IsDefault = true, Applies = static p => !p.Max },
        ],
    };
}
