using Ssd.Kernels.Core;
using Ssd.Kernels.Softmax;
using Ssd.Tests.Kernels.OpMatrix;
using static Ssd.Tests.Kernels.OpMatrix.OpMatrix;

namespace Ssd.Tests.Kernels.Softmax;

/// <summary>Softmax for the op matrix: SSD's box scores (rows of 21 and 91 classes), channel softmax (inner &gt; 1),
/// odd shapes. Uniform logits: the device kernel's exp is not the reference's on NaN and infinities.</summary>
public sealed class SoftmaxCases : IOpCaseList
{
    public static IEnumerable<IOpCase> Cases =>
        from s in new[] { (3, 5, 1, CaseSize.Small), (2, 5, 37, CaseSize.Small), (1, 21, 300, CaseSize.Small), (8732, 21, 1, CaseSize.Large), (8732, 91, 1, CaseSize.Large) }
        let p = new SoftmaxParams(s.Item1, s.Item2, s.Item3)
        let n = (long)s.Item1 * s.Item2 * s.Item3
        select (IOpCase)new OpCase<SoftmaxParams>($"softmax [{s.Item1}, {s.Item2}, {s.Item3}]", SoftmaxVariants.Softmax, OpPass.Forward, p,
            [Uniform(31, n, -8f, 8f)], [n], s.Item4);
}
