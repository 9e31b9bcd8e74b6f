using Ssd.Kernels.Core;

namespace Ssd.Kernels.Softmax;

/// <summary>Softmax over the middle axis of a tensor viewed as [Outer, Classes, Inner].</summary>
internal sealed record SoftmaxParams(int Outer, int Classes, int Inner)
{
    public override string ToString() => $"softmax [{Outer}, {Classes}, {Inner}]";
}

/// <summary>
/// The Softmax family (the network's softmax layer): <see cref="SoftmaxReference"/>, the CPU backend's
/// <see cref="CpuSoftmax"/> (bit for bit) and the ILGPU kernel (within float32 roundings of exp). Backward reads the output.
/// </summary>
internal static class SoftmaxVariants
{
    public static readonly OpFamily<SoftmaxParams> Softmax = new()
    {
        Name = "softmax",
        Forward = static (p, x, y) => SoftmaxReference.Forward(p.Outer, p.Classes, p.Inner, x[0], y[0]),
        BackwardReads = static _ => [OpValue.Output],
        Variants =
        [
            OpVariant<SoftmaxParams>.Cpu("cpu.simd", OpPass.Forward, static (p, b, c) =>
                new LaunchExecutor(() => CpuSoftmax.Forward(p.Outer, p.Classes, p.Inner, c.Span(b.Input), c.Span(b.Output), c.Options))) with { IsDefault = true },
            OpVariant<SoftmaxParams>.Ilgpu("softmax.1", OpPass.Forward, static (p, b, c) =>
            {
                var (op, x, y) = (new SoftmaxOp(c.Device), c.View(b.Input), c.View(b.Output));
                return new LaunchExecutor(() => op.Forward(p.Outer, p.Classes, p.Inner, x, y, c.Stream));
            }) with { IsDefault = true, Bound = new ErrorBound(1e-5f, 1e-7f) },
        ],
    };
}
