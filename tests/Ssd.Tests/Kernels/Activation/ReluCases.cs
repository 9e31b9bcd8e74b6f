using Ssd.Kernels.Activation;
using Ssd.Kernels.Core;
using Ssd.Tests.Kernels.OpMatrix;
using static Ssd.Tests.Kernels.OpMatrix.OpMatrix;

namespace Ssd.Tests.Kernels.Activation;

/// <summary>ReLU forward and backward for the op matrix: odd lengths (vector bodies and scalar tails), NaN, infinities
/// and signed zeros, and conv4_3's size.</summary>
public sealed class ReluCases : IOpCaseList
{
    public static IEnumerable<IOpCase> Cases =>
        from n in new[] { (1L, CaseSize.Small), (17L, CaseSize.Small), (100003L, CaseSize.Small), (512L * 38 * 38, CaseSize.Large) }
        from c in new[] { Forward(n.Item1, n.Item2), Backward(n.Item1, n.Item2) }
        select c;

    private static IOpCase Forward(long n, CaseSize size) =>
        new OpCase<ReluParams>($"relu {n}", ActivationVariants.Relu, OpPass.Forward, new ReluParams(n), [Spiky(61, n)], [n], size);

    /// <summary>Backward reads the forward's output (so y &gt;= 0 or NaN) and the output gradient.</summary>
    private static IOpCase Backward(long n, CaseSize size)
    {
        var y = Spiky(62, n).Select(v => v > 0f || float.IsNaN(v) ? v : 0f).ToArray();
        return new OpCase<ReluParams>($"relu backward {n}", ActivationVariants.Relu, OpPass.Backward, new ReluParams(n), [y, Spiky(63, n)], [n], size);
    }
}
