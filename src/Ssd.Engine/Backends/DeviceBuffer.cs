using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Engine.Backends;

/// <summary>
/// Floats in a backend's memory: a managed array on the CPU backend (<see cref="HostBuffer"/>), device memory on an
/// ILGPU one (<see cref="IlgpuBuffer"/>). A network's activation arena and its priors are DeviceBuffers, so callers
/// hand device data from one stage to the next (network to device post-processing) without knowing the backend.
/// </summary>
public abstract class DeviceBuffer : IDisposable
{
    /// <summary>How many floats the buffer holds.</summary>
    public abstract long Length { get; }

    /// <summary>The whole buffer as a slice.</summary>
    public DeviceSlice All => new(this, new ArenaSlice(0, Length));

    /// <summary>A range of the buffer; one outside it is an <see cref="ArgumentOutOfRangeException"/>.</summary>
    public DeviceSlice Slice(ArenaSlice slice) =>
        slice.Offset >= 0 && slice.Length >= 0 && slice.Offset + slice.Length <= Length ? new DeviceSlice(this, slice)
            : throw new ArgumentOutOfRangeException(nameof(slice), $"slice {slice} lies outside a buffer of {Length} floats");

    /// <summary>Frees the memory (device memory at once; a managed array to the GC).</summary>
    public abstract void Dispose();
}

/// <summary>A managed float array: the CPU backend's memory.</summary>
public sealed class HostBuffer(float[] array) : DeviceBuffer
{
    /// <summary>The floats.</summary>
    public float[] Array { get; } = array;

    /// <inheritdoc/>
    public override long Length => Array.LongLength;

    /// <inheritdoc/>
    public override void Dispose() { }
}

/// <summary>Device memory of an ILGPU accelerator.</summary>
public sealed class IlgpuBuffer(MemoryBuffer1D<float, Stride1D.Dense> buffer) : DeviceBuffer
{
    /// <summary>The whole buffer as an ILGPU view (for kernels).</summary>
    public ArrayView<float> View => buffer.View;

    /// <inheritdoc/>
    public override long Length => buffer.Length;

    /// <inheritdoc/>
    public override void Dispose() => buffer.Dispose();
}

/// <summary>A range of a <see cref="DeviceBuffer"/> (a blob in a network's arena, or the priors).</summary>
public readonly record struct DeviceSlice(DeviceBuffer Buffer, ArenaSlice Range)
{
    /// <summary>How many floats the slice covers.</summary>
    public long Length => Range.Length;

    /// <summary>The slice as an ILGPU view; only for device memory (the caller runs ILGPU kernels on it).</summary>
    public ArrayView<float> View => Buffer is IlgpuBuffer b ? b.View.SubView(Range.Offset, Range.Length)
        : throw new InvalidOperationException($"a {Buffer.GetType().Name} slice is host memory, not an ILGPU device view");

    /// <summary>The slice as a span; only for host memory.</summary>
    public Span<float> Span => Buffer is HostBuffer h ? h.Array.AsSpan(checked((int)Range.Offset), checked((int)Range.Length))
        : throw new InvalidOperationException($"a {Buffer.GetType().Name} slice is device memory, not a host span");
}
