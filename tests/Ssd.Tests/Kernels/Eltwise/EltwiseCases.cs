using Ssd.Kernels.Core;
using Ssd.Kernels.Eltwise;
using Ssd.Tests.Kernels.OpMatrix;
using static Ssd.Tests.Kernels.OpMatrix.OpMatrix;

namespace Ssd.Tests.Kernels.Eltwise;

/// <summary>Eltwise for the op matrix: ResNet-SSD's shortcut sums at their sizes, weighted sums, products and maxima
/// of two to five inputs, odd lengths (vector tails), on spiky data (NaN, infinities, both zeros decide the ties).</summary>
public sealed class EltwiseCases : IOpCaseList
{
    public static IEnumerable<IOpCase> Cases =>
    [
        Case("sum of 2, 32x75x75 (layer_64_1_sum)", EltwiseMode.Sum, 2, [], 32 * 75 * 75, CaseSize.Large),
        Case("sum of 2, 256x19x19 (layer_512_1_sum)", EltwiseMode.Sum, 2, [], 256 * 19 * 19, CaseSize.Large),
        Case("weighted sum of 3, odd length", EltwiseMode.Sum, 3, [0.5f, -1f, 3f], 1001, CaseSize.Small),
        Case("weighted sum of 2", EltwiseMode.Sum, 2, [-0.25f, 1.5f], 4099, CaseSize.Small),
        Case("product of 3", EltwiseMode.Product, 3, [], 777, CaseSize.Small),
        Case("max of 2", EltwiseMode.Max, 2, [], 5003, CaseSize.Small),
        Case("max of 4", EltwiseMode.Max, 4, [], 2055, CaseSize.Small),
        Case("sum of 5, short", EltwiseMode.Sum, 5, [], 13, CaseSize.Small),
    ];

    private static IOpCase Case(string name, EltwiseMode mode, int inputs, float[] coefficients, int length, CaseSize size) =>
        new OpCase<EltwiseParams>(name, EltwiseVariants.Eltwise, OpPass.Forward, new EltwiseParams(mode, coefficients, inputs, length),
            [.. Enumerable.Range(0, inputs).Select(k => Spiky(31 + k, length))], [length], size);
}
