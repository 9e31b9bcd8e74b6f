using Ssd.Kernels.Cpu;

namespace Ssd.Engine.Training.Optim;

/// <summary>
/// An optimizer over plain float arrays: <see cref="Step"/> updates every parameter of every group from its
/// gradient, element by element, in chunks spread over the cores, each chunk at the widest vector width the CPU
/// has (or the one <see cref="Cpu"/> forces; every width gives the same bits).
/// </summary>
public abstract class Optimizer
{
    /// <summary>Floats per task: large enough to amortise the dispatch, small enough to balance two cores.</summary>
    private const int Chunk = 1 << 15;

    /// <summary>The parameter groups, each with its rate and weight decay.</summary>
    public IReadOnlyList<ParameterGroup> Groups { get; }

    /// <summary>Optimizer steps taken so far.</summary>
    public long Steps { get; private protected set; }

    /// <summary>ISA and threads of the update kernels.</summary>
    public CpuOpOptions Cpu { get; init; }

    /// <summary>The state's name in a checkpoint ("sgd", "adamw").</summary>
    public abstract string Kind { get; }

    private readonly (int Group, int Param, int Offset, int Length)[] tasks;

    private protected Optimizer(IEnumerable<ParameterGroup> groups)
    {
        ArgumentNullException.ThrowIfNull(groups);
        Groups = groups.ToArray();
        if (Groups.Count == 0) throw new ArgumentException("optimizer: no parameter groups");
        var seen = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        var names = new HashSet<string>(StringComparer.Ordinal);
        var list = new List<(int, int, int, int)>();
        for (int g = 0; g < Groups.Count; g++)
            for (int i = 0; i < Groups[g].Parameters.Count; i++)
            {
                var p = Groups[g].Parameters[i];
                if (!seen.Add(p)) throw new ArgumentException($"optimizer: parameter '{p.Name}' is in more than one group");
                if (!names.Add(p.Name)) throw new ArgumentException($"optimizer: two parameters are named '{p.Name}'");
                for (int o = 0; o < p.Count; o += Chunk) list.Add((g, i, o, Math.Min(Chunk, p.Count - o)));
            }
        tasks = [.. list];
    }

    /// <summary>Every parameter of the optimizer, group by group.</summary>
    public IEnumerable<Parameter> Parameters => Groups.SelectMany(g => g.Parameters);

    /// <summary>One update of every parameter from its current gradient.</summary>
    public void Step()
    {
        BeginStep();
        var isa = Cpu.ResolvedIsa;
        int workers = Cpu.WorkersFor(tasks.Length * (long)Chunk);
        WorkerPool.Run(tasks.Length, workers, (this, isa), static (s, _, t) =>
        {
            var (g, i, offset, length) = s.Item1.tasks[t];
            s.Item1.Update(s.Item1.Groups[g], g, i, offset, length, s.isa);
        });
        Steps++;
    }

    /// <summary>Sets every gradient to zero.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters) Array.Clear(p.Grad);
    }

    /// <summary>Per-step values computed once before the parallel update (bias corrections, first-step flags).</summary>
    private protected virtual void BeginStep() { }

    /// <summary>Updates elements [offset, offset + length) of parameter <paramref name="param"/> of group <paramref name="groupIndex"/>.</summary>
    private protected abstract void Update(ParameterGroup group, int groupIndex, int param, int offset, int length, CpuIsa isa);

    /// <summary>The optimizer's state (its buffers per parameter, steps, hyper-parameters, group rates), for a checkpoint.</summary>
    public abstract OptimizerState ExportState();

    /// <summary>Restores a state exported by the same kind of optimizer over parameters of the same names and sizes.</summary>
    public abstract void ImportState(OptimizerState state);

    /// <summary>Runs <paramref name="kernel"/> at the vector width of <paramref name="isa"/>.</summary>
    internal static void Dispatch<K>(CpuIsa isa, K kernel) where K : struct, IChunkKernel
    {
        switch (isa)
        {
            case CpuIsa.Avx512: kernel.Run<F512>(); break;
            case CpuIsa.Avx2: kernel.Run<F256>(); break;
            default: kernel.Run<F128>(); break;
        }
    }

    private protected void CheckImport(OptimizerState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Kind != Kind) throw new InvalidDataException($"optimizer state: it is {state.Kind}'s, this optimizer is {Kind}");
        if (state.GroupLrs.Length != Groups.Count) throw new InvalidDataException($"optimizer state: {state.GroupLrs.Length} parameter groups, this optimizer has {Groups.Count}");
        var byName = Parameters.ToDictionary(p => p.Name, StringComparer.Ordinal);
        foreach (var (key, values) in state.Buffers)
        {
            int dot = key.LastIndexOf('/');
            string name = dot < 0 ? key : key[..dot];
            if (!byName.TryGetValue(name, out var p)) throw new InvalidDataException($"optimizer state: buffer '{key}' is for an unknown parameter '{name}'");
            if (values.Length != p.Count) throw new InvalidDataException($"optimizer state: buffer '{key}' holds {values.Length} floats, parameter '{name}' has {p.Count}");
        }
    }
}

/// <summary>An update written once over <see cref="ISimdFloat{TSelf}"/>: Run does whole vectors of V, then the tail with <see cref="F1"/>.</summary>
internal interface IChunkKernel
{
    void Run<V>() where V : unmanaged, ISimdFloat<V>;
}
