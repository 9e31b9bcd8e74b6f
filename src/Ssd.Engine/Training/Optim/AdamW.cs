using Ssd.Kernels.Cpu;

namespace Ssd.Engine.Training.Optim;

/// <summary>
/// AdamW as torch.optim.AdamW (1.13, single-tensor path), per parameter with its own step count t:
/// p = p (1 - lr wd); m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2 (amsgrad: vmax = max(vmax, v));
/// p = p - (lr / (1 - beta1^t)) m / (sqrt(v) / sqrt(1 - beta2^t) + eps). The scalars are computed in double as
/// torch's Python does, then rounded to float; the tensor arithmetic is float32.
/// </summary>
public sealed class AdamW : Optimizer
{
    /// <summary>The first moment's decay, in [0, 1).</summary>
    public double Beta1 { get; }
    /// <summary>The second moment's decay, in [0, 1).</summary>
    public double Beta2 { get; }
    /// <summary>Added to the denominator, at least 0.</summary>
    public double Eps { get; }
    /// <summary>Whether the running maximum of the second moment is used (AMSGrad).</summary>
    public bool Amsgrad { get; }

    private readonly State?[][] states;

    private sealed class State(int count, bool amsgrad)
    {
        public readonly float[] ExpAvg = new float[count], ExpAvgSq = new float[count];
        public readonly float[]? MaxExpAvgSq = amsgrad ? new float[count] : null;
        public double Step;
        // This step's scalars, set in BeginStep.
        public float Decay, NegStepSize, Bc2Sqrt;
    }

    /// <summary>torch's defaults: lr from the groups, betas (0.9, 0.999), eps 1e-8; weight decay per group (torch's default 1e-2).</summary>
    public AdamW(IEnumerable<ParameterGroup> groups, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, bool amsgrad = false)
        : base(groups)
    {
        if (!(beta1 >= 0 && beta1 < 1)) throw new ArgumentException($"adamw: beta1 {beta1} is not in [0, 1)");
        if (!(beta2 >= 0 && beta2 < 1)) throw new ArgumentException($"adamw: beta2 {beta2} is not in [0, 1)");
        if (!(eps >= 0 && double.IsFinite(eps))) throw new ArgumentException($"adamw: eps {eps} must be finite and not negative");
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        Amsgrad = amsgrad;
        states = Groups.Select(g => new State?[g.Parameters.Count]).ToArray();
    }

    /// <inheritdoc/>
    public override string Kind => "adamw";

    private protected override void BeginStep()
    {
        for (int g = 0; g < Groups.Count; g++)
        {
            var group = Groups[g];
            for (int i = 0; i < group.Parameters.Count; i++)
            {
                var s = states[g][i] ??= new State(group.Parameters[i].Count, Amsgrad);
                s.Step += 1;
                double bc1 = 1 - Math.Pow(Beta1, s.Step), bc2 = 1 - Math.Pow(Beta2, s.Step);
                s.Decay = (float)(1 - group.Lr * group.WeightDecay);
                s.NegStepSize = (float)-(group.Lr / bc1);
                s.Bc2Sqrt = (float)Math.Sqrt(bc2);
            }
        }
    }

    private protected override unsafe void Update(ParameterGroup group, int groupIndex, int param, int offset, int length, CpuIsa isa)
    {
        var p = group.Parameters[param];
        var s = states[groupIndex][param]!;
        fixed (float* pv = p.Value, pg = p.Grad, pm = s.ExpAvg, pv2 = s.ExpAvgSq, pmax = s.MaxExpAvgSq)
        {
            Dispatch(isa, new Kernel
            {
                P = pv + offset, G = pg + offset, M = pm + offset, V2 = pv2 + offset, Max = pmax is null ? null : pmax + offset, N = length,
                Decay = s.Decay, Beta1 = (float)Beta1, OneMinusBeta1 = (float)(1 - Beta1), Beta2 = (float)Beta2, OneMinusBeta2 = (float)(1 - Beta2),
                Bc2Sqrt = s.Bc2Sqrt, Eps = (float)Eps, NegStepSize = s.NegStepSize,
            });
        }
    }

    private unsafe struct Kernel : IChunkKernel
    {
        public float* P, G, M, V2, Max;
        public int N;
        public float Decay, Beta1, OneMinusBeta1, Beta2, OneMinusBeta2, Bc2Sqrt, Eps, NegStepSize;

        public readonly void Run<V>() where V : unmanaged, ISimdFloat<V>
        {
            int i = 0;
            for (; i + V.Count <= N; i += V.Count) Element<V>(i);
            for (; i < N; i++) Element<F1>(i);
        }

        private readonly void Element<V>(int i) where V : unmanaged, ISimdFloat<V>
        {
            var p = V.Mul(V.Load(P + i), V.Splat(Decay));                                   // param.mul_(1 - lr * wd)
            var g = V.Load(G + i);
            var m = V.Fma(g, V.Splat(OneMinusBeta1), V.Mul(V.Load(M + i), V.Splat(Beta1))); // exp_avg.mul_(b1).add_(g, alpha=1-b1)
            var v = V.Fma(V.Mul(V.Splat(OneMinusBeta2), g), g, V.Mul(V.Load(V2 + i), V.Splat(Beta2))); // exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2)
            V.Store(m, M + i);
            V.Store(v, V2 + i);
            if (Max is not null)
            {
                v = V.Max(V.Load(Max + i), v);                                              // torch.maximum(max_exp_avg_sq, exp_avg_sq)
                V.Store(v, Max + i);
            }
            var denom = V.Add(V.Div(V.Sqrt(v), V.Splat(Bc2Sqrt)), V.Splat(Eps));           // (v.sqrt() / sqrt(bc2)).add_(eps)
            V.Store(V.Add(p, V.Div(V.Mul(V.Splat(NegStepSize), m), denom)), P + i);      // param.addcdiv_(m, denom, value=-step_size)
        }
    }

    /// <inheritdoc/>
    public override OptimizerState ExportState()
    {
        var buffers = new Dictionary<string, float[]>(StringComparer.Ordinal);
        var scalars = new Dictionary<string, double>(StringComparer.Ordinal);
        for (int g = 0; g < Groups.Count; g++)
            for (int i = 0; i < Groups[g].Parameters.Count; i++)
            {
                if (states[g][i] is not { } s) continue;
                string name = Groups[g].Parameters[i].Name;
                buffers[$"{name}/exp_avg"] = (float[])s.ExpAvg.Clone();
                buffers[$"{name}/exp_avg_sq"] = (float[])s.ExpAvgSq.Clone();
                if (s.MaxExpAvgSq is { } mx) buffers[$"{name}/max_exp_avg_sq"] = (float[])mx.Clone();
                scalars[$"{name}/step"] = s.Step;
            }
        return new OptimizerState(Kind, Steps, new Dictionary<string, double>
        {
            ["beta1"] = Beta1, ["beta2"] = Beta2, ["eps"] = Eps, ["amsgrad"] = Amsgrad ? 1 : 0,
        }, Groups.Select(g => g.Lr).ToArray(), buffers, scalars);
    }

    /// <inheritdoc/>
    public override void ImportState(OptimizerState state)
    {
        CheckImport(state);
        for (int g = 0; g < Groups.Count; g++)
        {
            Groups[g].Lr = state.GroupLrs[g];
            for (int i = 0; i < Groups[g].Parameters.Count; i++)
            {
                var p = Groups[g].Parameters[i];
                if (!state.Scalars.TryGetValue($"{p.Name}/step", out double step)) { states[g][i] = null; continue; }
                var s = new State(p.Count, Amsgrad) { Step = step };
                Copy(state, $"{p.Name}/exp_avg", s.ExpAvg);
                Copy(state, $"{p.Name}/exp_avg_sq", s.ExpAvgSq);
                if (s.MaxExpAvgSq is { } mx) Copy(state, $"{p.Name}/max_exp_avg_sq", mx);
                states[g][i] = s;
            }
        }
        Steps = state.Steps;
    }

    private static void Copy(OptimizerState state, string key, float[] into)
    {
        if (!state.Buffers.TryGetValue(key, out var b)) throw new InvalidDataException($"optimizer state: buffer '{key}' is missing");
        b.CopyTo(into, 0);
    }
}
