using ILGPU;
using ILGPU.Runtime;
using Ssd.Engine.Imaging;
using Ssd.Engine.Network;
using Ssd.Kernels.Core;
using Ssd.Kernels.Preprocess;
using Ssd.Kernels.Priors;
using Ssd.Weights.Model;

namespace Ssd.Engine.Backends.Ilgpu;

/// <summary>
/// A backend over one <see cref="ComputeDevice"/> (one ILGPU context and accelerator) and one stream: every network
/// built on it, whatever its batch or input size, shares the device, its compiled kernels and its stream, so the
/// layers run in order on the device with no host synchronisation between them; only Download (and Synchronize)
/// wait. Executors load their kernels (once per device) and upload their weights when they are created.
/// </summary>
public sealed class IlgpuBackend : IBackend
{
    private readonly bool ownsDevice;
    private PreprocessOp? preprocessOp;
    private PriorOp? priorOp;
    private byte[] pixelStaging = [];
    private MemoryBuffer1D<byte, Stride1D.Dense>? pixels;

    /// <summary>The ILGPU context and accelerator.</summary>
    public ComputeDevice ComputeDevice { get; }

    /// <summary>The backend's own stream: every copy and kernel is queued on it, in order.</summary>
    public AcceleratorStream Stream { get; }

    /// <summary>The device and stream the op executors launch on.</summary>
    public DeviceStream Device { get; }
    DeviceStream? IBackend.Device => Device;

    /// <inheritdoc/>
    public bool RunsImageByImage => false;

    /// <summary>A backend on <paramref name="device"/>, with a stream of its own.</summary>
    /// <param name="device">The ILGPU device (<see cref="ComputeDevice.Create"/>).</param>
    /// <param name="ownsDevice">Dispose the device with the backend (false for a shared test device).</param>
    /// <param name="options">TF32 convolutions, CUDA graph replay (both off by default).</param>
    public IlgpuBackend(ComputeDevice device, bool ownsDevice = false, DeviceOptions options = default)
    {
        ComputeDevice = device;
        this.ownsDevice = ownsDevice;
        Stream = device.Accelerator.CreateStream();
        Device = new DeviceStream(device, Stream, options);
    }

    /// <summary>TF32 convolutions, CUDA graph replay.</summary>
    public DeviceOptions Options => Device.Options;

    /// <inheritdoc/>
    public string Description => $"ilgpu {ComputeDevice.Description}";

    /// <inheritdoc/>
    public OpTarget Target => OpTarget.Ilgpu;

    /// <inheritdoc/>
    public DeviceBuffer Allocate(long floats) => new IlgpuBuffer(ComputeDevice.Allocate(Math.Max(floats, 1)));

    /// <inheritdoc/>
    public OpContext Context(DeviceBuffer arena) => new IlgpuOpContext(Device, arena.All.View);

    /// <inheritdoc/>
    public void Upload(ReadOnlySpan<float> source, DeviceSlice destination)
    {
        if (source.Length != destination.Length) throw new ArgumentException($"upload: {source.Length} floats into a slice of {destination.Length}");
        destination.View.CopyFromCPU(Stream, source);
    }

    /// <inheritdoc/>
    public void Download(DeviceSlice source, Span<float> destination)
    {
        if (destination.Length != source.Length) throw new ArgumentException($"download: a slice of {source.Length} floats into {destination.Length}");
        Stream.Synchronize();
        source.View.CopyToCPU(Stream, destination);
        Stream.Synchronize();
    }

    /// <inheritdoc/>
    public void Synchronize() => Stream.Synchronize();

    /// <summary>
    /// Pre-processes a batch on the device straight into <paramref name="destination"/> (the network input slice,
    /// [N, 3, H, W]): each image's bytes go up once, into its own range of a device byte buffer, and
    /// <see cref="PreprocessOp"/> resizes / reorders / normalises them into its batch item. Everything is queued on
    /// the stream; nothing waits for the device (the next Download does). The buffers are kept and only grow, so a
    /// steady stream of frames allocates nothing; PreprocessOp uploads its tap tables once per source size.
    /// </summary>
    public void Preprocess(IReadOnlyList<RgbImage> images, PreprocessSettings settings, DeviceSlice destination)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        long perImage = settings.OutputLength;
        if (destination.Length != images.Count * perImage)
            throw new ArgumentException($"preprocess: {images.Count} images of 3x{settings.Height}x{settings.Width} floats into a slice of {destination.Length}");
        long bytes = 0;
        foreach (var image in images) bytes += image.Pixels.LongLength;
        EnsurePixelCapacity(bytes);
        preprocessOp ??= new PreprocessOp(ComputeDevice);

        long offset = 0;
        var output = destination.View;
        for (int i = 0; i < images.Count; i++)
        {
            var image = images[i];
            long length = image.Pixels.LongLength;
            // Staged in pinned host memory so that the copy can stay queued (CopyFromCPU would wait for the stream);
            // each image has its own range of both buffers, so no copy overwrites bytes a queued kernel still reads.
            image.Pixels.AsSpan().CopyTo(pixelStaging.AsSpan((int)offset, (int)length));
            var rgb = pixels!.View.BaseView.SubView(offset, length);
            rgb.CopyFromCPUUnsafeAsync(Stream, ref pixelStaging[offset], length);
            preprocessOp.Forward(rgb, image.Width, image.Height, settings, output.SubView(i * perImage, perImage), Stream);
            offset += length;
        }
    }

    private void EnsurePixelCapacity(long bytes)
    {
        if (pixels is not null && pixels.Length >= bytes) return;
        if (bytes > Array.MaxLength) throw new ArgumentException($"preprocess: a batch of {bytes} pixel bytes is too large for one upload buffer; use a smaller batch");
        Stream.Synchronize(); // queued copies and kernels may still read the old buffers
        pixels?.Dispose();
        pixels = ComputeDevice.Accelerator.Allocate1D<byte>(Math.Max(bytes, 1));
        pixelStaging = GC.AllocateUninitializedArray<byte>((int)Math.Max(bytes, 1), pinned: true);
    }

    /// <summary>The Priors family's kernels, into a buffer that stays on the device.</summary>
    public DeviceBuffer Priors(PriorRequest request)
    {
        priorOp ??= new PriorOp(ComputeDevice);
        return new IlgpuBuffer(request.Style switch
        {
            ModelFlavor.Caffe => priorOp.Caffe(request.Caffe!),
            ModelFlavor.SsdPytorch => priorOp.SsdPytorch(request.SsdPytorch!),
            _ => priorOp.Torchvision(request.Torchvision!, request.Grids, request.ImageHeight, request.ImageWidth),
        });
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Stream.Synchronize();
        pixels?.Dispose();
        preprocessOp?.Dispose();
        Device.Workspace.Dispose();
        Stream.Dispose();
        if (ownsDevice) ComputeDevice.Dispose();
    }
}
