namespace Ssd.Kernels.Core;

/// <summary>Which direction of an op: the forward pass, or the backward pass that turns the output's gradient into the inputs'.</summary>
public enum OpPass
{
    /// <summary>Inputs to output.</summary>
    Forward,
    /// <summary>The output's gradient (and what the forward saved) to the inputs' gradients.</summary>
    Backward,
}

/// <summary>The kind of backend a variant runs on: the managed SIMD CPU backend, or an ILGPU accelerator (CUDA, OpenCL, the CPU simulator).</summary>
public enum OpTarget
{
    /// <summary>The managed SIMD CPU backend (host arrays).</summary>
    Cpu,
    /// <summary>An ILGPU accelerator: CUDA, OpenCL (PoCL included) or ILGPU's CPU simulator.</summary>
    Ilgpu,
}

/// <summary>
/// How close a variant must come to its family's plain reference: |actual - expected| &lt;= Atol + Rtol * |expected|
/// element-wise, a NaN only where the reference has one. <see cref="Exact"/> means bit for bit (any NaN matches a NaN).
/// </summary>
public readonly record struct ErrorBound(float Rtol, float Atol)
{
    /// <summary>Bit for bit: rtol and atol 0.</summary>
    public static ErrorBound Exact => default;

    /// <summary>Whether this is <see cref="Exact"/>.</summary>
    public bool IsExact => Rtol == 0 && Atol == 0;

    /// <summary>Whether <paramref name="actual"/> is close enough to <paramref name="expected"/>.</summary>
    /// <param name="actual">The variant's value.</param>
    /// <param name="expected">The reference's value.</param>
    public bool Accepts(float actual, float expected)
    {
        if (float.IsNaN(expected)) return float.IsNaN(actual);
        if (IsExact) return BitConverter.SingleToInt32Bits(actual) == BitConverter.SingleToInt32Bits(expected);
        return MathF.Abs(actual - expected) <= Atol + Rtol * MathF.Abs(expected) || actual == expected;
    }

    /// <summary>"bit-exact", or the tolerances.</summary>
    public override string ToString() => IsExact ? "bit-exact" : $"rtol {Rtol:G2}, atol {Atol:G2}";
}

/// <summary>One of an op's pieces in a value's life: an input of the forward step, its output, or a value the
/// training-mode forward saves for backward (pooling argmax, L2Norm's norms).</summary>
public enum OpValueRole
{
    /// <summary>An input of the forward step.</summary>
    Input,
    /// <summary>The forward step's output.</summary>
    Output,
    /// <summary>A value the training-mode forward saves for backward.</summary>
    Saved,
}

/// <summary>A value backward reads, named by its role in the forward step (input 0, the output, saved value 0).</summary>
public readonly record struct OpValue(OpValueRole Role, int Index = 0)
{
    /// <summary>Input <paramref name="index"/> of the forward step.</summary>
    public static OpValue Input(int index = 0) => new(OpValueRole.Input, index);
    /// <summary>The forward step's output.</summary>
    public static OpValue Output => new(OpValueRole.Output);
    /// <summary>Saved value <paramref name="index"/> of the training-mode forward.</summary>
    public static OpValue Saved(int index = 0) => new(OpValueRole.Saved, index);
}

/// <summary>A plain reference: reads <paramref name="inputs"/>, writes <paramref name="outputs"/> (pre-sized), in the
/// order of <see cref="OpBinding"/>.</summary>
internal delegate void OpReference<in TParams>(TParams p, float[][] inputs, float[][] outputs);

/// <summary>What the registry and the op-matrix harness see of a variant, whatever its parameters.</summary>
public interface IOpVariant
{
    /// <summary>The variant's name within its family, e.g. "relu.1" or "conv2d.winograd.cpu".</summary>
    string Name { get; }
    /// <summary>The pass it computes.</summary>
    OpPass Pass { get; }
    /// <summary>The backend kind it runs on.</summary>
    OpTarget Target { get; }
    /// <summary>How close it comes to the family's reference.</summary>
    ErrorBound Bound { get; }
    /// <summary>Whether it is the one the engine picks for its target and pass.</summary>
    bool IsDefault { get; }

    /// <summary>Whether the variant can run in this context at all (e.g. the TF32 tensor-core convolution needs CUDA
    /// sm_80+); the harness skips it elsewhere.</summary>
    bool RunsOn(OpContext context);
}

/// <summary>
/// One way to run an op: its name (the ILGPU kernel's, "relu.1", or the CPU path's, "cpu.simd"), pass and target,
/// the factory that binds it to a step's buffers, where it applies, and how close it comes to the reference. Exactly
/// one variant per pass and target is <see cref="IsDefault"/>: the one a network runs (it may choose among the
/// others per shape, as conv's "auto" variants do).
/// </summary>
internal sealed record OpVariant<TParams>(string Name, OpPass Pass, OpTarget Target, Func<TParams, OpBinding, OpContext, IOpExecutor> Create)
    : IOpVariant
{
    public Func<TParams, bool> Applies { get; init; } = static _ => true;
    public ErrorBound Bound { get; init; } = ErrorBound.Exact;
    public bool IsDefault { get; init; }

    /// <summary>A forward variant that also writes the values the family saves for backward (training mode).</summary>
    public bool SavesForBackward { get; init; }

    /// <summary>The device check behind <see cref="RunsOn"/>: every context by default.</summary>
    public Func<OpContext, bool> Runs { get; init; } = static _ => true;

    public bool RunsOn(OpContext context) => Runs(context);

    public static OpVariant<TParams> Cpu(string name, OpPass pass, Func<TParams, OpBinding, CpuOpContext, IOpExecutor> create) =>
        new(name, pass, OpTarget.Cpu, (p, b, c) => create(p, b, Context<CpuOpContext>(c, name)));

    public static OpVariant<TParams> Ilgpu(string name, OpPass pass, Func<TParams, OpBinding, IlgpuOpContext, IOpExecutor> create) =>
        new(name, pass, OpTarget.Ilgpu, (p, b, c) => create(p, b, Context<IlgpuOpContext>(c, name)));

    private static T Context<T>(OpContext context, string name) where T : OpContext =>
        context as T ?? throw new ArgumentException($"op variant '{name}' runs on {typeof(T).Name}, not {context.GetType().Name}");
}

/// <summary>What the registry and the harness see of a family, whatever its parameters.</summary>
public interface IOpFamily
{
    /// <summary>The family's name, e.g. "conv2d".</summary>
    string Name { get; }
    /// <summary>Every variant, forward and backward, on every target.</summary>
    IReadOnlyList<IOpVariant> AllVariants { get; }
    /// <summary>Whether the family has a backward pass (training).</summary>
    bool HasBackward { get; }
}

/// <summary>
/// An op as one unit: its name, its plain references (forward, and backward once written), every variant (CPU SIMD and
/// ILGPU kernels, forward and backward), and what training needs to know of it: the values its training-mode forward
/// saves (<see cref="Saved"/>, floats per value) and the values its backward reads (<see cref="BackwardReads"/>), so
/// the training memory plan keeps exactly those alive. Backends never list ops: they ask the family for the variant of
/// their target (<see cref="Variant"/>), and a new op or a new variant touches only its family folder and its one
/// registration in the engine.
/// </summary>
internal sealed class OpFamily<TParams> : IOpFamily
{
    public required string Name { get; init; }
    public required OpReference<TParams> Forward { get; init; }
    public OpReference<TParams>? Backward { get; init; }
    public required IReadOnlyList<OpVariant<TParams>> Variants { get; init; }

    /// <summary>The floats of each value the training-mode forward writes for backward, after the output (none by default).</summary>
    public Func<TParams, long[]> Saved { get; init; } = static _ => [];

    /// <summary>The values backward reads, besides the output's gradient (none by default).</summary>
    public Func<TParams, OpValue[]> BackwardReads { get; init; } = static _ => [];

    /// <summary>The floats of each learned parameter's gradient the backward writes after the inputs' gradients
    /// (conv: dW then db; L2Norm: d scale), in that order; none by default. Written, not accumulated.</summary>
    public Func<TParams, long[]> ParameterGradients { get; init; } = static _ => [];

    public bool HasBackward => Backward is not null;
    public IReadOnlyList<IOpVariant> AllVariants => Variants;

    /// <summary>
    /// The variant to run: the one named <paramref name="name"/>, else the target's default for this pass (or, if the
    /// default does not apply to these parameters, the first variant that does). Throws naming the op, pass and target
    /// when there is none, e.g. a backward not written yet.
    /// </summary>
    public OpVariant<TParams> Variant(OpPass pass, OpTarget target, TParams p, string? name = null, bool training = false)
    {
        var candidates = Variants.Where(v => v.Pass == pass && v.Target == target).ToList();
        if (training && pass == OpPass.Forward && Saved(p).Length > 0)
        {
            candidates = candidates.Where(v => v.SavesForBackward).ToList();
            if (candidates.Count == 0)
                throw new NotSupportedException($"op '{Name}' has no training-mode forward on the {target} backend (one that saves what its backward reads)");
        }
        if (name is not null)
            return candidates.FirstOrDefault(v => v.Name == name)
                ?? throw new NotSupportedException($"op '{Name}' has no {pass} variant '{name}' on {target}; it has {string.Join(", ", candidates.Select(v => v.Name))}");
        var chosen = candidates.FirstOrDefault(v => v.IsDefault && v.Applies(p)) ?? candidates.FirstOrDefault(v => v.Applies(p));
        return chosen ?? throw new NotSupportedException(candidates.Count == 0
            ? $"op '{Name}' has no {pass.ToString().ToLowerInvariant()} executor for the {target} backend"
            : $"op '{Name}': no {pass.ToString().ToLowerInvariant()} variant on {target} applies to {p}");
    }

    public IOpExecutor Create(OpPass pass, TParams p, OpBinding binding, OpContext context, string? variant = null, bool training = false)
    {
        var chosen = Variant(pass, context.Target, p, variant, training);
        if (!chosen.RunsOn(context))
            throw new NotSupportedException($"op '{Name}': variant '{chosen.Name}' cannot run on this device");
        return chosen.Create(p, binding, context);
    }
}
