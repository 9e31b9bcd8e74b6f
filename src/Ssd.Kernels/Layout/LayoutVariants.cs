using Ssd.Kernels.Core;

namespace Ssd.Kernels.Layout;

/// <summary>A 4-D permute: the input dims and the order (output axis k is input axis Order[k]).</summary>
internal sealed record PermuteParams(int[] InputDims, int[] Order)
{
    public override string ToString() => $"permute [{string.Join(", ", InputDims)}] order {string.Join("", Order)}";
}

/// <summary>A row concatenation: each output row is the inputs' rows one after another (Rows = the product of the
/// dims before the concat axis).</summary>
internal sealed record ConcatParams(int Rows)
{
    public override string ToString() => $"concat {Rows} rows";
}

/// <summary>
/// The Layout family: permute and concat by <see cref="LayoutReference"/>, the CPU backend's <see cref="CpuLayout"/>
/// and the ILGPU kernels. They only move floats, so every variant is bit for bit; backward reads nothing but dy
/// (<see cref="LayoutBackwardReference"/>: permute's gradient is the inverse permute, concat's splits dy back).
/// </summary>
internal static class LayoutVariants
{
    public static readonly OpFamily<PermuteParams> Permute = new()
    {
        Name = "permute",
        Forward = static (p, x, y) => LayoutReference.Permute(p.InputDims, p.Order, x[0], y[0]),
        Backward = static (p, r, g) => LayoutBackwardReference.Permute(p.InputDims, p.Order, r[0], g[0]),
        Variants =
        [
            OpVariant<PermuteParams>.Cpu("cpu.simd", OpPass.Forward, static (p, b, c) =>
                new LaunchExecutor(() => CpuLayout.Permute(p.InputDims, p.Order, c.Span(b.Input), c.Span(b.Output), c.Options))) with { IsDefault = true },
            OpVariant<PermuteParams>.Ilgpu("layout.permute.1", OpPass.Forward, static (p, b, c) =>
            {
                var (op, x, y) = (new LayoutOp(c.Device), c.View(b.Input), c.View(b.Output));
                return new LaunchExecutor(() => op.Permute(p.InputDims, p.Order, x, y, c.Stream));
            }) with { IsDefault = true },
            OpVariant<PermuteParams>.Cpu("cpu.simd", OpPass.Backward, static (p, b, c) =>
                new LaunchExecutor(() => LayoutBackwardSimd.Permute(p.InputDims, p.Order, c.Span(b.Input), c.Span(b.Output), c.Options))) with { IsDefault = true },
            OpVariant<PermuteParams>.Ilgpu("layout.permute.1", OpPass.Backward, static (p, b, c) =>
            {
                var (op, dy, dx) = (new LayoutBackwardOp(c.Device), c.View(b.Input), c.View(b.Output));
                return new LaunchExecutor(() => op.Permute(p.InputDims, p.Order, dy, dx, c.Stream));
            }) with { IsDefault = true },
        ],
    };

    public static readonly OpFamily<ConcatParams> Concat = new()
    {
        Name = "concat",
        Forward = static (p, x, y) => LayoutReference.ConcatRows(p.Rows, x, y[0]),
        Backward = static (p, r, g) => LayoutBackwardReference.ConcatRows(p.Rows, r[0], g),
        Variants =
        [
            OpVariant<ConcatParams>.Cpu("cpu.simd", OpPass.Forward, static (p, b, c) =>
            {
                // The inputs are slices of the same arena: the CPU variant reads them in place.
                var offsets = b.Inputs.Select(s => checked((int)s.Offset)).ToArray();
                var lengths = b.Inputs.Select(s => checked((int)s.Length)).ToArray();
                return new LaunchExecutor(() => CpuLayout.ConcatRows(p.Rows, c.Arena, offsets, lengths, c.Span(b.Output), c.Options));
            }) with { IsDefault = true },
            OpVariant<ConcatParams>.Ilgpu("layout.copyrows.1", OpPass.Forward, static (p, b, c) =>
            {
                var (op, inputs, y) = (new LayoutOp(c.Device), b.Inputs.Select(c.View).ToArray(), c.View(b.Output));
                return new LaunchExecutor(() => op.ConcatRows(p.Rows, inputs, y, c.Stream));
            }) with { IsDefault = true },
            OpVariant<ConcatParams>.Cpu("cpu.simd", OpPass.Backward, static (p, b, c) =>
            {
                // The gradients are slices of the same arena as dy: written in place.
                var offsets = b.Outputs.Select(s => checked((int)s.Offset)).ToArray();
                var lengths = b.Outputs.Select(s => checked((int)s.Length)).ToArray();
                return new LaunchExecutor(() => LayoutBackwardSimd.ConcatRows(p.Rows, c.Span(b.Input), c.Arena, offsets, lengths, c.Options));
            }) with { IsDefault = true },
            OpVariant<ConcatParams>.Ilgpu("layout.splitrows.1", OpPass.Backward, static (p, b, c) =>
            {
                var (op, dy, grads) = (new LayoutBackwardOp(c.Device), c.View(b.Input), b.Outputs.Select(c.View).ToArray());
                return new LaunchExecutor(() => op.ConcatRows(p.Rows, dy, grads, c.Stream));
            }) with { IsDefault = true },
        ],
    };
}
