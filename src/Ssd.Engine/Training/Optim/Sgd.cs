using Ssd.Kernels.Cpu;

namespace Ssd.Engine.Training.Optim;

/// <summary>How SGD with momentum applies the learning rate.</summary>
public enum SgdRule
{
    /// <summary>
    /// torch.optim.SGD (1.13, single-tensor path): d = g + wd p; buf = d on the first step, else
    /// buf = momentum buf + (1 - dampening) d; d = buf (nesterov: d + momentum buf); p = p - lr d.
    /// The adds with a factor are fused multiply-adds, as ATen's add kernel computes them.
    /// </summary>
    Torch,

    /// <summary>
    /// Caffe's SGDSolver: d = g + wd p; history = momentum history + lr d (history starts at 0); p = p - history.
    /// The rate sits inside the history, so a change of rate acts gradually, not at once as in torch's.
    /// </summary>
    Caffe,
}

/// <summary>SGD with momentum and weight decay (per group), torch's or Caffe's formulation.</summary>
public sealed class Sgd : Optimizer
{
    /// <summary>The momentum factor, at least 0 (0: plain SGD).</summary>
    public double Momentum { get; }
    /// <summary>torch's dampening of the momentum, at least 0 (Caffe: 0).</summary>
    public double Dampening { get; }
    /// <summary>Whether torch's Nesterov momentum is used.</summary>
    public bool Nesterov { get; }
    /// <summary>torch's or Caffe's formulation.</summary>
    public SgdRule Rule { get; }

    private readonly float[]?[][] buffers;   // [group][param]: torch's momentum_buffer / Caffe's history, null until made

    /// <summary>An SGD optimizer over the groups (their rates and weight decays).</summary>
    /// <param name="groups">The parameter groups, at least one; no parameter in two.</param>
    /// <param name="momentum">The momentum factor, finite, at least 0.</param>
    /// <param name="dampening">torch's dampening, finite, at least 0 (0 for Caffe's rule).</param>
    /// <param name="nesterov">torch's Nesterov momentum (needs a momentum and no dampening; not with Caffe's rule).</param>
    /// <param name="rule">torch's or Caffe's formulation.</param>
    /// <exception cref="ArgumentException">An argument is out of range or the combination is not allowed.</exception>
    public Sgd(IEnumerable<ParameterGroup> groups, double momentum = 0, double dampening = 0, bool nesterov = false, SgdRule rule = SgdRule.Torch)
        : base(groups)
    {
        if (!(momentum >= 0 && double.IsFinite(momentum))) throw new ArgumentException($"sgd: momentum {momentum} must be finite and not negative");
        if (!(dampening >= 0 && double.IsFinite(dampening))) throw new ArgumentException($"sgd: dampening {dampening} must be finite and not negative");
        if (nesterov && (momentum <= 0 || dampening != 0)) throw new ArgumentException("sgd: nesterov momentum requires a momentum and zero dampening (as torch)");
        if (rule == SgdRule.Caffe && (dampening != 0 || nesterov)) throw new ArgumentException("sgd: Caffe's rule has no dampening and no nesterov option");
        Momentum = momentum;
        Dampening = dampening;
        Nesterov = nesterov;
        Rule = rule;
        buffers = Groups.Select(g => new float[]?[g.Parameters.Count]).ToArray();
    }

    /// <inheritdoc/>
    public override string Kind => Rule == SgdRule.Torch ? "sgd" : "sgd-caffe";

    private readonly HashSet<(int, int)> fresh = [];

    private protected override void BeginStep()
    {
        // torch makes the momentum buffer from the first step's d (buf = d); Caffe's history starts at zero.
        fresh.Clear();
        if (Momentum == 0) return;
        for (int g = 0; g < Groups.Count; g++)
            for (int i = 0; i < Groups[g].Parameters.Count; i++)
                if (buffers[g][i] is null)
                {
                    buffers[g][i] = new float[Groups[g].Parameters[i].Count];
                    if (Rule == SgdRule.Torch) fresh.Add((g, i));
                }
    }

    private protected override unsafe void Update(ParameterGroup group, int groupIndex, int param, int offset, int length, CpuIsa isa)
    {
        var p = group.Parameters[param];
        var buffer = buffers[groupIndex][param];
        fixed (float* pv = p.Value, pg = p.Grad, pb = buffer)
        {
            var k = new Kernel
            {
                P = pv + offset, G = pg + offset, B = pb is null ? null : pb + offset, N = length,
                Decay = (float)group.WeightDecay, Momentum = (float)Momentum, KeepGradient = (float)(1 - Dampening),
                Lr = (float)group.Lr, NegLr = (float)-group.Lr, Nesterov = Nesterov, Caffe = Rule == SgdRule.Caffe,
                First = fresh.Contains((groupIndex, param)),
            };
            Dispatch(isa, k);
        }
    }

    private unsafe struct Kernel : IChunkKernel
    {
        public float* P, G, B;
        public int N;
        public float Decay, Momentum, KeepGradient, Lr, NegLr;
        public bool Nesterov, Caffe, First;

        public readonly void Run<V>() where V : unmanaged, ISimdFloat<V>
        {
            int i = 0;
            for (; i + V.Count <= N; i += V.Count) Element<V>(i);
            for (; i < N; i++) Element<F1>(i);
        }

        private readonly void Element<V>(int i) where V : unmanaged, ISimdFloat<V>
        {
            var p = V.Load(P + i);
            var d = V.Load(G + i);
            if (Decay != 0f) d = V.Fma(p, V.Splat(Decay), d);                       // d_p.add(param, alpha=wd)
            if (B is null)
            {
                V.Store(V.Fma(d, V.Splat(NegLr), p), P + i);                      // param.add_(d_p, alpha=-lr)
                return;
            }
            var b = V.Load(B + i);
            if (Caffe)
            {
                b = V.Fma(d, V.Splat(Lr), V.Mul(b, V.Splat(Momentum)));            // history = momentum history + lr d
                V.Store(b, B + i);
                V.Store(V.Sub(p, b), P + i);
                return;
            }
            b = First ? d : V.Fma(d, V.Splat(KeepGradient), V.Mul(b, V.Splat(Momentum))); // buf.mul_(m).add_(d, alpha=1-damp)
            V.Store(b, B + i);
            d = Nesterov ? V.Fma(b, V.Splat(Momentum), d) : b;                    // d_p.add(buf, alpha=m) or buf
            V.Store(V.Fma(d, V.Splat(NegLr), p), P + i);
        }
    }

    /// <inheritdoc/>
    public override OptimizerState ExportState()
    {
        var buffersByName = new Dictionary<string, float[]>(StringComparer.Ordinal);
        for (int g = 0; g < Groups.Count; g++)
            for (int i = 0; i < Groups[g].Parameters.Count; i++)
                if (buffers[g][i] is { } b) buffersByName[$"{Groups[g].Parameters[i].Name}/{BufferName}"] = (float[])b.Clone();
        return new OptimizerState(Kind, Steps, new Dictionary<string, double>
        {
            ["momentum"] = Momentum, ["dampening"] = Dampening, ["nesterov"] = Nesterov ? 1 : 0,
        }, Groups.Select(g => g.Lr).ToArray(), buffersByName);
    }

    private string BufferName => Rule == SgdRule.Torch ? "momentum_buffer" : "history";

    /// <inheritdoc/>
    public override void ImportState(OptimizerState state)
    {
        CheckImport(state);
        for (int g = 0; g < Groups.Count; g++)
        {
            Groups[g].Lr = state.GroupLrs[g];
            for (int i = 0; i < Groups[g].Parameters.Count; i++)
                buffers[g][i] = state.Buffers.TryGetValue($"{Groups[g].Parameters[i].Name}/{BufferName}", out var b) ? (float[])b.Clone() : null;
        }
        Steps = state.Steps;
    }
}
