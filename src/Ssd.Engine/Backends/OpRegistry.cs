using Ssd.Engine.Graph;
using Ssd.Kernels.Activation;
using Ssd.Kernels.BatchNorm;
using Ssd.Kernels.Conv;
using Ssd.Kernels.Core;
using Ssd.Kernels.Eltwise;
using Ssd.Kernels.L2Norm;
using Ssd.Kernels.Layout;
using Ssd.Kernels.Pooling;
using Ssd.Kernels.Softmax;
using Ssd.Weights.Model;

namespace Ssd.Engine.Backends;

/// <summary>
/// The one registration of every op the engine runs: which op family (src/Ssd.Kernels/&lt;Family&gt;) executes a
/// plan step, and the step's parameters in that family's terms. A network asks here for each step's executor; the
/// family picks the variant for the backend's target and pass. Adding an op (or an op's backward) is its family
/// folder plus one line below.
/// </summary>
public static class OpRegistry
{
    private static readonly IRegistration[] registrations =
    [
        Register<ConvStep, ConvParams>(ConvVariants.Conv2d, s => new ConvParams(s.Params, s.InShape, s.OutChannels, s.Weights)),
        Register<ReluStep, ReluParams>(ActivationVariants.Relu, s => new ReluParams(s.Output.Count)),
        Register<PoolStep, PoolParams>(PoolVariants.Pool, s => new PoolParams(s.Geometry, s.Method == PoolMethod.Max)),
        Register<NormalizeStep, L2NormParams>(L2NormVariants.L2Norm, s => new L2NormParams(s.Input.Nchw, s.Mode, s.Eps, s.ScaleValues)),
        Register<PermuteStep, PermuteParams>(LayoutVariants.Permute, s => new PermuteParams(s.Input.Shape, s.Order)),
        Register<ConcatStep, ConcatParams>(LayoutVariants.Concat, s => new ConcatParams(s.Rows)),
        Register<SoftmaxStep, SoftmaxParams>(SoftmaxVariants.Softmax, s => new SoftmaxParams(s.Outer, s.Classes, s.Inner)),
        Register<EltwiseStep, EltwiseParams>(EltwiseVariants.Eltwise, s => new EltwiseParams(s.Mode, s.Coefficients, s.Sources.Length, s.Output.Count)),
        Register<AffineStep, AffineParams>(BatchNormVariants.Affine, s => new AffineParams(s.Geometry, s.AffineValues)),
    ];

    private static readonly Dictionary<Type, IRegistration> byStep = registrations.ToDictionary(r => r.Step);

    /// <summary>Every registered op family, in registration order.</summary>
    public static IReadOnlyList<IOpFamily> Families { get; } = registrations.Select(r => r.Family).ToArray();

    /// <summary>The op family that runs <paramref name="step"/> (by the step's type).</summary>
    public static IOpFamily FamilyOf(PlanStep step) => For(step).Family;

    /// <summary>The executor of <paramref name="step"/>'s <paramref name="pass"/> on <paramref name="context"/>'s backend
    /// (the family's default variant for that target, or the one named; in <paramref name="training"/> mode a forward
    /// that also writes what backward reads).</summary>
    public static IOpExecutor Create(PlanStep step, OpPass pass, OpBinding binding, OpContext context, string? variant = null, bool training = false) =>
        For(step).Create(step, pass, binding, context, variant, training);

    /// <summary>The name of the variant <see cref="Create"/> would run.</summary>
    public static string VariantName(PlanStep step, OpPass pass, OpTarget target) => For(step).VariantName(step, pass, target);

    /// <summary>Floats of each value the step's training-mode forward saves for backward.</summary>
    public static long[] Saved(PlanStep step) => For(step).Saved(step);

    /// <summary>The values the step's backward reads (besides its output's gradient).</summary>
    public static OpValue[] BackwardReads(PlanStep step) => For(step).BackwardReads(step);

    /// <summary>Floats of each learned parameter's gradient the step's backward writes after its inputs' gradients.</summary>
    public static long[] ParameterGradients(PlanStep step) => For(step).ParameterGradients(step);

    /// <summary>
    /// The sum of the shares of a gradient (a value several layers read): the Eltwise family's forward sum over the
    /// parts, written into the gradient.
    /// </summary>
    public static IOpExecutor GradientSum(int parts, long count, OpBinding binding, OpContext context) =>
        EltwiseVariants.Eltwise.Create(OpPass.Forward, new EltwiseParams(EltwiseMode.Sum, [], parts, count), binding, context);

    private static IRegistration For(PlanStep step) => byStep.TryGetValue(step.GetType(), out var r) ? r
        : throw new NotSupportedException($"layer '{step.Layer}': no op is registered for {step.GetType().Name}");

    private static IRegistration Register<TStep, TParams>(OpFamily<TParams> family, Func<TStep, TParams> parameters) where TStep : PlanStep =>
        new Registration<TStep, TParams>(family, parameters);

    private interface IRegistration
    {
        Type Step { get; }
        IOpFamily Family { get; }
        IOpExecutor Create(PlanStep step, OpPass pass, OpBinding binding, OpContext context, string? variant, bool training);
        string VariantName(PlanStep step, OpPass pass, OpTarget target);
        long[] Saved(PlanStep step);
        OpValue[] BackwardReads(PlanStep step);
        long[] ParameterGradients(PlanStep step);
    }

    private sealed class Registration<TStep, TParams>(OpFamily<TParams> family, Func<TStep, TParams> parameters) : IRegistration where TStep : PlanStep
    {
        public Type Step => typeof(TStep);
        public IOpFamily Family => family;

        public IOpExecutor Create(PlanStep step, OpPass pass, OpBinding binding, OpContext context, string? variant, bool training)
        {
            try { return family.Create(pass, parameters((TStep)step), binding, context, variant, training); }
            catch (NotSupportedException e) { throw new NotSupportedException($"layer '{step.Layer}': {e.Message}", e); }
        }

        public string VariantName(PlanStep step, OpPass pass, OpTarget target) => family.Variant(pass, target, parameters((TStep)step)).Name;
        public long[] Saved(PlanStep step) => family.Saved(parameters((TStep)step));
        public OpValue[] BackwardReads(PlanStep step) => family.BackwardReads(parameters((TStep)step));
        public long[] ParameterGradients(PlanStep step) => family.ParameterGradients(parameters((TStep)step));
    }
}
