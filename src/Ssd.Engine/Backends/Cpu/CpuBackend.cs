using Ssd.Engine.Imaging;
using Ssd.Engine.Network;
using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;
using Ssd.Kernels.Preprocess;

namespace Ssd.Engine.Backends.Cpu;

/// <summary>
/// The managed backend: buffers are float[] and every op runs its family's SIMD, multithreaded CPU variant (bit for
/// bit its reference, or within its declared bound for the convolutions). Work is synchronous, so Download and
/// Synchronize have nothing to wait for. <paramref name="options"/> force an ISA level or a thread count (the op-matrix
/// harness runs every level this CPU supports); by default the widest level and every core.
/// </summary>
public sealed class CpuBackend(CpuOpOptions options = default) : IBackend
{
    /// <summary>The forced ISA level and thread count (null: the widest level, every core).</summary>
    public CpuOpOptions Options { get; } = options;

    /// <inheritdoc/>
    public string Description => Options.Isa is { } isa ? $"cpu (managed SIMD, {isa})" : "cpu (managed SIMD)";

    /// <inheritdoc/>
    public OpTarget Target => OpTarget.Cpu;

    /// <inheritdoc/>
    public DeviceStream? Device => null;

    /// <inheritdoc/>
    public bool RunsImageByImage => true;

    /// <inheritdoc/>
    public DeviceBuffer Allocate(long floats)
    {
        if (floats < 0 || floats > Array.MaxLength) throw new ArgumentException($"a buffer of {floats} floats does not fit a managed array");
        return new HostBuffer(new float[floats]);
    }

    /// <inheritdoc/>
    public OpContext Context(DeviceBuffer arena) => new CpuOpContext(Host(arena).Array, Options);

    /// <inheritdoc/>
    public void Upload(ReadOnlySpan<float> source, DeviceSlice destination)
    {
        if (source.Length != destination.Length) throw new ArgumentException($"upload: {source.Length} floats into a slice of {destination.Length}");
        source.CopyTo(destination.Span);
    }

    /// <inheritdoc/>
    public void Download(DeviceSlice source, Span<float> destination)
    {
        if (destination.Length != source.Length) throw new ArgumentException($"download: a slice of {source.Length} floats into {destination.Length}");
        source.Span.CopyTo(destination);
    }

    /// <inheritdoc/>
    public void Synchronize() { }

    /// <summary>The plain reference, image by image, straight into the input slice (no staging copy).</summary>
    public void Preprocess(IReadOnlyList<RgbImage> images, PreprocessSettings settings, DeviceSlice destination)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        long perImage = settings.OutputLength;
        if (destination.Length != images.Count * perImage)
            throw new ArgumentException($"preprocess: {images.Count} images of 3x{settings.Height}x{settings.Width} floats into a slice of {destination.Length}");
        var output = destination.Span;
        for (int i = 0; i < images.Count; i++)
            PreprocessReference.Forward(images[i].Pixels, images[i].Width, images[i].Height, settings, output.Slice((int)(i * perImage), (int)perImage));
    }

    /// <inheritdoc/>
    public DeviceBuffer Priors(PriorRequest request) => new HostBuffer(request.ComputeReference());

    private static HostBuffer Host(DeviceBuffer buffer) =>
        buffer as HostBuffer ?? throw new ArgumentException($"the CPU backend runs on host buffers, not {buffer.GetType().Name}");

    /// <inheritdoc/>
    public void Dispose() { }
}
