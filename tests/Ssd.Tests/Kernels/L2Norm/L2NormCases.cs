using Ssd.Kernels.Core;
using Ssd.Kernels.L2Norm;
using Ssd.Tests.Kernels.OpMatrix;
using static Ssd.Tests.Kernels.OpMatrix.OpMatrix;

namespace Ssd.Tests.Kernels.L2Norm;

/// <summary>L2Norm for the op matrix: each flavour's eps rule, a shared and a per-channel scale, a pixel of zeros
/// (the eps decides its norm), and conv4_3's size.</summary>
public sealed class L2NormCases : IOpCaseList
{
    private static readonly (TensorShape, CaseSize)[] Shapes =
        [(new TensorShape(2, 7, 5, 3), CaseSize.Small), (new TensorShape(1, 3, 17, 19), CaseSize.Small), (new TensorShape(1, 512, 38, 38), CaseSize.Large)];

    public static IEnumerable<IOpCase> Cases =>
        (from shape in Shapes
         from mode in Enum.GetValues<L2NormEpsilon>()
         from shared in new[] { true, false }
         select Case(shape.Item1, mode, shared, shape.Item2))
        .Concat(
         from shape in Shapes
         from mode in Enum.GetValues<L2NormEpsilon>()
         from shared in new[] { true, false }
         from rule in new[] { L2NormGradient.Exact, L2NormGradient.Caffe }
         where rule == L2NormGradient.Exact || mode == L2NormEpsilon.InsideSqrt
         select Backward(shape.Item1, mode, shared, rule, shape.Item2));

    /// <summary>Backward reads x (a ReLU output, as conv4_3's; one pixel all zeros: the formulas' limits) and dy; writes dx and dscale.</summary>
    private static IOpCase Backward(TensorShape s, L2NormEpsilon mode, bool shared, L2NormGradient rule, CaseSize size)
    {
        float eps = mode switch { L2NormEpsilon.InsideSqrt => L2NormDefaults.CaffeEps, L2NormEpsilon.AfterSqrt => L2NormDefaults.SsdPytorchEps, _ => L2NormDefaults.TorchvisionEps };
        var x = Uniform(23, s.Count, -2f, 3f).Select(v => Math.Max(v, 0f)).ToArray();
        for (int k = 0; k < s.C; k++) x[(long)k * s.PlaneSize] = 0f;
        var scale = shared ? [20f] : Uniform(24, s.C, 5f, 25f);
        return new OpCase<L2NormParams>($"l2norm backward {s} {mode} {rule} {(shared ? "shared" : "per-channel")} scale", L2NormVariants.L2Norm,
            OpPass.Backward, new L2NormParams(s, mode, eps, () => scale, rule), [x, Uniform(25, s.Count)], [s.Count, scale.Length], size);
    }

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
