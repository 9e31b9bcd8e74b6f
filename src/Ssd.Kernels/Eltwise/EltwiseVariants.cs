using Ssd.Kernels.Core;

namespace Ssd.Kernels.Eltwise;

/// <summary>Eltwise's parameters: the operation, the sum's coefficients (one per input, or none), the number of
/// inputs and the element count of each.</summary>
internal sealed record EltwiseParams(EltwiseMode Mode, float[] Coefficients, int Inputs, long Count)
{
    public override string ToString() => $"eltwise {Mode} of {Inputs} x {Count}" + (Coefficients.Length > 0 ? $" coefficients {string.Join(",", Coefficients)}" : "");
}

/// <summary>
/// The Eltwise family (Caffe's Eltwise: sum with coefficients, product, max): <see cref="EltwiseReference"/>, the
/// CPU backend's <see cref="CpuEltwise"/> and the ILGPU kernels, all bit for bit. For training, backward reads
/// nothing for a sum, the inputs for a max (the winner is recomputed by the forward's comparisons, Caffe's mask),
/// the inputs and the output for a product.
/// </summary>
internal static class EltwiseVariants
{
    public static readonly OpFamily<EltwiseParams> Eltwise = new()
    {
        Name = "eltwise",
        Forward = static (p, x, y) => EltwiseReference.Forward(p.Mode, x, p.Coefficients, y[0]),
        BackwardReads = static p => p.Mode switch
        {
            EltwiseMode.Sum => [],
            EltwiseMode.Max => [.. Enumerable.Range(0, p.Inputs).Select(k => OpValue.Input(k))],
            _ => [.. Enumerable.Range(0, p.Inputs).Select(k => OpValue.Input(k)), OpValue.Output],
        },
        Variants =
        [
            OpVariant<EltwiseParams>.Cpu("cpu.simd", OpPass.Forward, static (p, b, c) =>
            {
                // The inputs are slices of the same arena: the CPU variant reads them in place.
                var offsets = b.Inputs.Select(s => checked((int)s.Offset)).ToArray();
                return new LaunchExecutor(() => CpuEltwise.Forward(p.Mode, c.Arena, offsets, p.Coefficients, c.Span(b.Output), c.Options));
            }) with { IsDefault = true },
            OpVariant<EltwiseParams>.Ilgpu("eltwise.1", OpPass.Forward, static (p, b, c) =>
            {
                var (op, inputs, y) = (new EltwiseOp(c.Device), b.Inputs.Select(c.View).ToArray(), c.View(b.Output));
                return new LaunchExecutor(() => op.Forward(p.Mode, inputs, p.Coefficients, y, c.Stream));
            }) with { IsDefault = true },
        ],
    };
}
