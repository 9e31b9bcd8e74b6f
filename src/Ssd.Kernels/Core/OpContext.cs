using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Core;

/// <summary>A range of an activation arena, in floats.</summary>
public readonly record struct ArenaSlice(long Offset, long Length)
{
    /// <summary>The slice as "[offset, +length)".</summary>
    public override string ToString() => $"[{Offset}, +{Length})";
}

/// <summary>
/// The arena slices one executor reads and writes. Forward: <see cref="Inputs"/> are the op's inputs in order and
/// <see cref="Outputs"/> its output (then, in training mode, the values it saves for backward, as its family declares:
/// <see cref="OpFamily{TParams}.Saved"/>). Backward: Inputs are what the family says backward reads
/// (<see cref="OpFamily{TParams}.BackwardReads"/>) followed by the gradient of the output; Outputs are the gradient of
/// each input, in input order.
/// </summary>
public sealed record OpBinding(ArenaSlice[] Inputs, ArenaSlice[] Outputs)
{
    /// <summary>One input and one output.</summary>
    public static OpBinding Unary(ArenaSlice input, ArenaSlice output) => new([input], [output]);

    /// <summary>The first input.</summary>
    public ArenaSlice Input => Inputs[0];
    /// <summary>The first output.</summary>
    public ArenaSlice Output => Outputs[0];
}

/// <summary>One op bound to its buffers (and weights, already on its device): <see cref="Run"/> only launches the
/// work, nothing is loaded or allocated there.</summary>
public interface IOpExecutor
{
    /// <summary>Queues (ILGPU) or runs (CPU) the op's work on its buffers.</summary>
    void Run();
}

/// <summary>An executor whose weights come from host arrays that may change (training, or a caller editing a
/// network's weights): <see cref="RefreshWeights"/> reads them again and rebuilds what it derived from them (packed
/// panels, Winograd-transformed filters, device copies).</summary>
internal interface IWeightedExecutor : IOpExecutor
{
    void RefreshWeights();
}

/// <summary>An executor that is a single launch.</summary>
internal sealed class LaunchExecutor(Action run) : IOpExecutor
{
    public void Run() => run();
}

/// <summary>Where an executor runs: one backend's device and one arena on it.</summary>
public abstract class OpContext
{
    /// <summary>The backend kind.</summary>
    public abstract OpTarget Target { get; }
}

/// <summary>The managed CPU backend: the arena is a float[]; <see cref="Options"/> say which ISA level and how many
/// threads the SIMD variants use (the harness forces each level this CPU runs).</summary>
internal sealed class CpuOpContext(float[] arena, CpuOpOptions options = default) : OpContext
{
    public override OpTarget Target => OpTarget.Cpu;
    public float[] Arena { get; } = arena;
    public CpuOpOptions Options { get; } = options;

    public Span<float> Span(ArenaSlice s) => Arena.AsSpan(checked((int)s.Offset), checked((int)s.Length));
}

/// <summary>How an ILGPU backend may run its ops. <see cref="AllowTf32"/>: convolutions may use the TF32 tensor cores
/// (CUDA sm_80 and later): faster, inputs rounded to a 10-bit mantissa, so results change (an explicit opt-in).
/// <see cref="CudaGraphs"/>: on CUDA a network's launches are captured once into a CUDA graph and replayed
/// (<see cref="LaunchPlan"/>).</summary>
public readonly record struct DeviceOptions(bool AllowTf32 = false, bool CudaGraphs = false);

/// <summary>An ILGPU device and the one stream a backend queues its work on, with the backend's options and the scratch
/// memory its ops share (they run one after another on the stream).</summary>
public sealed record DeviceStream(ComputeDevice Device, AcceleratorStream Stream, DeviceOptions Options = default)
{
    /// <summary>The scratch memory the executors on this stream share.</summary>
    public DeviceWorkspace Workspace { get; } = new(Device);
}

/// <summary>
/// Scratch memory that the executors on one stream share (e.g. the Winograd transforms' V and M): each executor
/// reserves what it needs when it is made; the buffer is allocated at the largest reservation on first use, so a
/// network's launches see one allocation, made before its first run (a launch plan captured after that stays valid).
/// A later, larger reservation grows it (after the stream drains).
/// </summary>
public sealed class DeviceWorkspace(ComputeDevice device) : IDisposable
{
    private MemoryBuffer1D<float, Stride1D.Dense>? buffer;
    private long reserved;

    /// <summary>Asks for at least <paramref name="floats"/> floats of scratch (allocated on first use).</summary>
    public void Reserve(long floats) => reserved = Math.Max(reserved, floats);

    /// <summary>The scratch, at least as large as every reservation so far.</summary>
    public ArrayView<float> View(AcceleratorStream stream)
    {
        if (buffer is null || buffer.Length < reserved)
        {
            stream.Synchronize();
            buffer?.Dispose();
            buffer = device.Allocate(Math.Max(reserved, 1));
        }
        return buffer.View;
    }

    /// <summary>Frees the scratch buffer.</summary>
    public void Dispose()
    {
        buffer?.Dispose();
        buffer = null;
    }
}

/// <summary>An ILGPU device: every executor launches on the backend's one stream, so steps run in order with no host
/// synchronisation between them.</summary>
internal sealed class IlgpuOpContext(DeviceStream queue, ArrayView<float> arena) : OpContext
{
    public override OpTarget Target => OpTarget.Ilgpu;
    public ComputeDevice Device => queue.Device;
    public AcceleratorStream Stream => queue.Stream;
    public DeviceOptions Options => queue.Options;
    public DeviceWorkspace Workspace => queue.Workspace;
    public ArrayView<float> Arena { get; } = arena;

    public ArrayView<float> View(ArenaSlice s) => Arena.SubView(s.Offset, s.Length);
}
