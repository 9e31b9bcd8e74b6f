using Ssd.Kernels.Core;

namespace Ssd.Kernels.Activation;

/// <summary>ReLU's parameters: the element count (the op is element-wise, so that is its whole shape).</summary>
internal sealed record ReluParams(long Count);

/// <summary>
/// The Activation family: ReLU forward (y = max(x, 0), <see cref="ReluReference"/>) and backward
/// (<see cref="ReluBackwardReference"/>, which reads the forward's output, so in-place ReLU trains too), each as a
/// multithreaded SIMD CPU variant and an ILGPU kernel, all bit for bit their reference.
/// </summary>
internal static class ActivationVariants
{
    public static readonly OpFamily<ReluParams> Relu = new()
    {
        Name = "relu",
        Forward = static (_, x, y) => ReluReference.Forward(x[0], y[0]),
        Backward = static (_, r, dx) => ReluBackwardReference.Backward(r[0], r[1], dx[0]),
        BackwardReads = static _ => [OpValue.Output],
        Variants =
        [
            OpVariant<ReluParams>.Cpu("cpu.simd", OpPass.Forward, static (_, b, c) =>
                new LaunchExecutor(() => CpuRelu.Forward(c.Span(b.Input), c.Span(b.Output), c.Options))) with { IsDefault = true },
            OpVariant<ReluParams>.Ilgpu("relu.1", OpPass.Forward, static (_, b, c) =>
            {
                var (op, x, y) = (new ReluOp(c.Device), c.View(b.Input), c.View(b.Output));
                return new LaunchExecutor(() => op.Forward(x, y, c.Stream));
            }) with { IsDefault = true },
            OpVariant<ReluParams>.Cpu("cpu.simd", OpPass.Backward, static (_, b, c) =>
                new LaunchExecutor(() => ReluBackwardSimd.Backward(c.Span(b.Inputs[0]), c.Span(b.Inputs[1]), c.Span(b.Output), c.Options))) with { IsDefault = true },
            OpVariant<ReluParams>.Ilgpu("relu.backward.1", OpPass.Backward, static (_, b, c) =>
            {
                var (op, y, dy, dx) = (new ReluOp(c.Device), c.View(b.Inputs[0]), c.View(b.Inputs[1]), c.View(b.Output));
                return new LaunchExecutor(() => op.Backward(y, dy, dx, c.Stream));
            }) with { IsDefault = true },
        ],
    };
}
