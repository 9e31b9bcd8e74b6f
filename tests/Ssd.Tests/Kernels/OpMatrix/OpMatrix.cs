using System.Reflection;
using Ssd.Engine.Backends;
using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;
using Ssd.Engine.Backends.Cpu;

namespace Ssd.Tests.Kernels.OpMatrix;

// The op-matrix harness (in the spirit of ncnn's test_layer and ggml's test-backend-ops): every registered variant of
// every op family, on every backend this machine has, against the family's plain reference. This file has no test
// framework in it: tests/Ssd.Tests/Kernels/OpMatrix/OpMatrixTests.cs asserts with it (TEST mode) and
// bench/Ssd.Bench/OpMatrixBenchmarks.cs times the same runs with BenchmarkDotNet (PERF mode); both compile the case
// lists tests/Ssd.Tests/Kernels/<Family>/*Cases.cs.

/// <summary>How big a case is, which decides where it runs: Small everywhere; Large (SSD300's layer sizes) everywhere but
/// the CPU simulator (its barriers cost milliseconds); Perf only in perf mode (SSD300 convolutions, whose plain
/// reference takes minutes; the family's own tests check those sizes on sampled channels).</summary>
public enum CaseSize { Small, Large, Perf }

/// <summary>One problem for one op and pass: parameters, inputs, output lengths.</summary>
public interface IOpCase
{
    string Name { get; }
    IOpFamily Family { get; }
    OpPass Pass { get; }
    CaseSize Size { get; }

    /// <summary>The variants of <see cref="Family"/> for this pass that apply to the case.</summary>
    IEnumerable<IOpVariant> Variants { get; }

    /// <summary>The family's plain reference on the case (computed once).</summary>
    float[][] Expected { get; }

    /// <summary>Places inputs and outputs in one arena on <paramref name="backend"/>, uploads the inputs and binds the variant.</summary>
    PreparedRun Prepare(IOpVariant variant, IBackend backend);
}

/// <summary>A variant bound on a backend: <see cref="Run"/> launches and waits (what perf mode times); <see cref="Outputs"/> downloads.</summary>
public sealed class PreparedRun(IBackend backend, DeviceBuffer arena, IOpExecutor executor, ArenaSlice[] outputs) : IDisposable
{
    public void Run()
    {
        executor.Run();
        backend.Synchronize();
    }

    public float[][] Outputs() => [.. outputs.Select(o =>
    {
        var host = new float[o.Length];
        backend.Download(arena.Slice(o), host);
        return host;
    })];

    public void Dispose()
    {
        backend.Synchronize();
        (executor as IDisposable)?.Dispose();
        arena.Dispose();
    }
}

/// <summary>
/// A case of an op family with parameters <typeparamref name="TParams"/>. Forward: Inputs are the op's inputs and
/// OutputLengths its output's; backward: Inputs are what the family's backward reads then the output gradient, and
/// OutputLengths the input gradients' (see <see cref="OpBinding"/>).
/// </summary>
internal sealed class OpCase<TParams>(string name, OpFamily<TParams> family, OpPass pass, TParams parameters, float[][] inputs, long[] outputLengths,
    CaseSize size = CaseSize.Small) : IOpCase
{
    private float[][]? expected;

    public string Name { get; } = name;
    public IOpFamily Family => family;
    public OpPass Pass { get; } = pass;
    public CaseSize Size { get; } = size;
    public TParams Parameters { get; } = parameters;

    public IEnumerable<IOpVariant> Variants => family.Variants.Where(v => v.Pass == Pass && v.Applies(Parameters));

    public float[][] Expected => expected ??= Reference();

    private float[][] Reference()
    {
        var outputs = outputLengths.Select(n => new float[n]).ToArray();
        var reference = Pass == OpPass.Forward ? family.Forward : family.Backward
            ?? throw new InvalidOperationException($"{family.Name} has backward variants but no backward reference");
        reference(Parameters, inputs, outputs);
        return outputs;
    }

    public PreparedRun Prepare(IOpVariant variant, IBackend backend)
    {
        // Inputs then outputs, each at a 64-float boundary; the outputs start as NaN so a variant that skips an
        // element cannot pass on a zero it did not write.
        long at = 0;
        ArenaSlice Place(long length) { var s = new ArenaSlice(at, length); at += (length + 63) / 64 * 64; return s; }
        var inSlices = inputs.Select(x => Place(x.Length)).ToArray();
        var outSlices = outputLengths.Select(Place).ToArray();
        var arena = backend.Allocate(Math.Max(at, 1));
        try
        {
            for (int i = 0; i < inputs.Length; i++) backend.Upload(inputs[i], arena.Slice(inSlices[i]));
            foreach (var o in outSlices) backend.Upload(Enumerable.Repeat(float.NaN, (int)o.Length).ToArray(), arena.Slice(o));
            var chosen = family.Variants.Single(v => ReferenceEquals(v, variant));
            var executor = chosen.Create(Parameters, new OpBinding(inSlices, outSlices), backend.Context(arena));
            return new PreparedRun(backend, arena, executor, outSlices);
        }
        catch
        {
            arena.Dispose();
            throw;
        }
    }

    public override string ToString() => Name;
}

/// <summary>A family's list of cases: each *Cases.cs file under tests/Ssd.Tests/Kernels/&lt;Family&gt; holds one.</summary>
public interface IOpCaseList
{
    static abstract IEnumerable<IOpCase> Cases { get; }
}

/// <summary>A backend the harness runs cases on: the managed CPU backend at one forced ISA level, or an ILGPU device.</summary>
public sealed record MatrixBackend(string Name, OpTarget Target, bool SmallOnly, Func<IBackend> Create)
{
    public override string ToString() => Name;
}

public static class OpMatrix
{
    /// <summary>Every case of every family (found by reflection over the <see cref="IOpCaseList"/> types), in name order.</summary>
    public static IReadOnlyList<IOpCase> Cases { get; } = LoadCases();

    private static IReadOnlyList<IOpCase> LoadCases() =>
        [.. typeof(OpMatrix).Assembly.GetTypes()
            .Where(t => t.IsClass && t.GetInterfaces().Contains(typeof(IOpCaseList)))
            .SelectMany(t => (IEnumerable<IOpCase>)t.GetProperty(nameof(IOpCaseList.Cases), BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!)
            .OrderBy(c => c.Family.Name, StringComparer.Ordinal).ThenBy(c => c.Pass).ThenBy(c => c.Name, StringComparer.Ordinal)];

    /// <summary>The managed CPU backend at every ISA level this CPU runs (2 worker threads).</summary>
    public static IEnumerable<MatrixBackend> CpuBackends() =>
        Enum.GetValues<CpuIsa>().Where(CpuIsaSupport.IsSupported)
            .Select(isa => new MatrixBackend($"cpu-{isa.ToString().ToLowerInvariant()}", OpTarget.Cpu, false, () => new CpuBackend(new CpuOpOptions(isa, 2))));

    /// <summary>Runs the case's variant on the backend and compares every output with the reference; null when it passes,
    /// else a one-line description of the first difference.</summary>
    public static string? Check(IOpCase c, IOpVariant variant, IBackend backend)
    {
        using var run = c.Prepare(variant, backend);
        run.Run();
        var actual = run.Outputs();
        for (int o = 0; o < actual.Length; o++)
        {
            var (a, e) = (actual[o], c.Expected[o]);
            if (a.Length != e.Length) return $"output {o}: {a.Length} floats, the reference has {e.Length}";
            for (int i = 0; i < a.Length; i++)
                if (!variant.Bound.Accepts(a[i], e[i]))
                    return $"output {o} element {i}: {a[i]:R} (0x{BitConverter.SingleToInt32Bits(a[i]):x8}), reference {e[i]:R} (0x{BitConverter.SingleToInt32Bits(e[i]):x8}); bound {variant.Bound}";
        }
        return null;
    }

    /// <summary>Deterministic uniform floats in [lo, hi).</summary>
    public static float[] Uniform(int seed, long count, float lo = -1f, float hi = 1f)
    {
        var rng = new Random(seed);
        var a = new float[count];
        for (long i = 0; i < count; i++) a[i] = lo + (hi - lo) * rng.NextSingle();
        return a;
    }

    /// <summary>Uniform data with NaN, infinities and both zeros sprinkled in (they decide ties and NaN flow).</summary>
    public static float[] Spiky(int seed, long count)
    {
        var x = Uniform(seed, count, -3f, 3f);
        var rng = new Random(seed);
        float[] special = [float.NaN, -0f, 0f, float.NegativeInfinity, float.PositiveInfinity, -0f, 0f];
        for (long k = 0; k < count / 13; k++) x[rng.Next((int)count)] = special[rng.Next(special.Length)];
        return x;
    }
}
