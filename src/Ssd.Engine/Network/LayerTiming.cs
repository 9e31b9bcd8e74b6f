using Ssd.Engine.Graph;

namespace Ssd.Engine.Network;

/// <summary>
/// One plan step's time, summed over the profiled forward passes (<see cref="SsdNetwork.Profiling"/>), with the
/// arithmetic it does: a convolution counts 2 FLOP per multiply-add of the direct algorithm (whatever algorithm ran),
/// every other step 0 (they move memory rather than compute).
/// </summary>
public sealed record LayerTiming(PlanStep Step, string Op, TimeSpan Total, int Runs)
{
    /// <summary>Mean time of one run of the step.</summary>
    public double Milliseconds => Runs == 0 ? 0 : Total.TotalMilliseconds / Runs;

    /// <summary>Floating-point operations of one run (the whole batch).</summary>
    public double Flops => FlopsOf(Step);

    /// <summary>Achieved GFLOP/s (0 when no time was measured).</summary>
    public double GflopsPerSecond => Milliseconds > 0 ? Flops / (Milliseconds * 1e6) : 0;

    /// <summary>Floating-point operations of a step for its whole batch (convolutions: 2 x outputs x kernel volume; other steps 0).</summary>
    public static double FlopsOf(PlanStep step) => step is ConvStep c
        ? 2.0 * c.Output.Count * (c.InShape.C / c.Params.Groups) * c.Params.KernelH * c.Params.KernelW
        : 0;

    /// <summary>A short name of the step's op for tables (Conv, Conv+ReLU, ...).</summary>
    public static string OpOf(PlanStep step) => step switch
    {
        ConvStep c => c.Params.FuseRelu ? "Conv+ReLU" : "Conv",
        ReluStep => "ReLU",
        PoolStep p => p.Method + "Pool",
        NormalizeStep => "L2Norm",
        PermuteStep => "Permute",
        ConcatStep => "Concat",
        SoftmaxStep => "Softmax",
        EltwiseStep e => "Eltwise" + e.Mode,
        AffineStep a => string.Join("+", new[] { a.Affine.Mean is null ? null : "BatchNorm", a.Affine.Scale is null ? null : "Scale",
            a.Affine.Relu ? "ReLU" : null }.OfType<string>()),
        _ => step.GetType().Name,
    };
}
