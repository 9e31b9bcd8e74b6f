using Ssd.Kernels.Core;
using Ssd.Kernels.L2Norm;
using Ssd.Tests.Kernels.OpMatrix;
using static Ssd.Tests.Kernels.OpMatrix.OpMatrix;

namespace Ssd.Tests.Kernels.L2Norm;

/// <summary>L2Norm for the op matrix: each flavour's eps rule, a shared and a per-channel scale, a pixel of zeros
/// (the eps decides its norm), and conv4_3's size.</summary>
public sealed class L2NormCases : IOpCaseList
{
    public static IEnumerable<IOpCase> Cases =>
        from shape in new[] { (new TensorShape(2, 7, 5, 3), CaseSize.Small), (new TensorShape(1, 3, 17, 19), CaseSize.Small), (new TensorShape(1, 512, 38, 38), CaseSize.Large) }
        from mode in Enum.GetValues<L2NormEpsilon>()
        from shared in new[] { true, false }
        select Case(shape.Item1, mode, shared, shape.Item2);

    private static IOpCase Case(TensorShape s, L2NormEpsilon mode, bool shared, CaseSize size)
    {
        float eps = mode switch { L2NormEpsilon.InsideSqrt => L2NormDefaults.CaffeEps, L2NormEpsilon.AfterSqrt => L2NormDefaults.SsdPytorchEps, _ => L2NormDefaults.TorchvisionEps };
        var x = Uniform(21, s.Count, -40f, 60f);
        for (int k = 0; k < s.C; k++) x[(long)k * s.PlaneSize + s.PlaneSize - 1] = k % 2 == 0 ? 0f : -0f;
        var scale = shared ? [20f] : Uniform(22, s.C, 5f, 25f);
        return new OpCase<L2NormParams>($"l2norm {s} {mode} {(shared ? "shared" : "per-channel")} scale", L2NormVariants.L2Norm, OpPass.Forward,
            new L2NormParams(s, mode, eps, () => scale), [x], [s.Count], size);
    }
}
