using ILGPU;
using ILGPU.Runtime;
using Ssd.Engine.Graph;
using Ssd.Engine.Imaging;
using Ssd.Engine.Network;
using Ssd.Kernels.Activation;
using Ssd.Kernels.BatchNorm;
using Ssd.Kernels.Conv;
using Ssd.Kernels.Core;
using Ssd.Kernels.Eltwise;
using Ssd.Kernels.L2Norm;
using Ssd.Kernels.Layout;
using Ssd.Kernels.Pooling;
using Ssd.Kernels.Preprocess;
using Ssd.Kernels.Priors;
using Ssd.Kernels.Softmax;
using Ssd.Weights.Model;

namespace Ssd.Engine.Backends.Ilgpu;

/// <summary>
/// The device backend over <see cref="ComputeDevice"/> and the op launchers. Every executor launches on one
/// stream, so the layers run in order on the device with no host synchronisation between them; only Download
/// (and Synchronize) wait. Kernels are loaded and weights uploaded when the executors are created; the network that created them disposes them.
/// </summary>
public sealed class IlgpuBackend : IBackend
{
    private readonly bool ownsDevice;
    private MemoryBuffer1D<float, Stride1D.Dense>? arena;
    private PreprocessOp? preprocessOp;
    private byte[] pixelStaging = [];
    private MemoryBuffer1D<byte, Stride1D.Dense>? pixels;

    internal Conv2dOp ConvOp { get; }
    internal ReluOp ReluOp { get; }
    internal PoolOp PoolOp { get; }
    internal L2NormOp L2NormOp { get; }
    internal LayoutOp LayoutOp { get; }
    internal SoftmaxOp SoftmaxOp { get; }
    internal EltwiseOp EltwiseOp => eltwiseOp ??= new EltwiseOp(Device);
    internal BatchNormOp BatchNormOp => batchNormOp ??= new BatchNormOp(Device);
    private EltwiseOp? eltwiseOp;
    private BatchNormOp? batchNormOp;

    public ComputeDevice Device { get; }
    public AcceleratorStream Stream { get; }

    /// <param name="ownsDevice">Dispose the device with the backend (false for a shared test device).</param>
    public IlgpuBackend(ComputeDevice device, bool ownsDevice = false)
    {
        Device = device;
        this.ownsDevice = ownsDevice;
        Stream = device.Accelerator.CreateStream();
        ConvOp = new Conv2dOp(device);
        ReluOp = new ReluOp(device);
        PoolOp = new PoolOp(device);
        L2NormOp = new L2NormOp(device);
        LayoutOp = new LayoutOp(device);
        SoftmaxOp = new SoftmaxOp(device);
    }

    public string Description => $"ilgpu {Device.Description}";

    /// <summary>The arena (for callers that want to write the input on the device themselves).</summary>
    public ArrayView<float> Arena => arena?.View ?? throw new InvalidOperationException("no arena allocated");

    public void AllocateArena(long floats)
    {
        arena?.Dispose();
        arena = Device.Allocate(Math.Max(floats, 1));
    }

    internal ArrayView<float> View(ArenaSlice s) => Arena.SubView(s.Offset, s.Length);

    public void Upload(ReadOnlySpan<float> source, ArenaSlice destination)
    {
        if (source.Length != destination.Length) throw new ArgumentException($"upload: {source.Length} floats into a slice of {destination.Length}");
        arena!.View.SubView(destination.Offset, destination.Length).CopyFromCPU(Stream, source);
    }

    /// <summary>Copies a device view into the arena on the stream (the input of a device-side pipeline).</summary>
    public void CopyIn(ArrayView<float> source, ArenaSlice destination)
    {
        if (source.Length != destination.Length) throw new ArgumentException($"copy: {source.Length} floats into a slice of {destination.Length}");
        source.CopyTo(Stream, View(destination));
    }

    /// <summary>
    /// Pre-processes a batch on the device straight into <paramref name="destination"/> (the network input slice,
    /// [N, 3, H, W]): each image's bytes go up once, into its own range of a device byte buffer, and
    /// <see cref="PreprocessOp"/> resizes / reorders / normalises them into its batch item. Everything is queued on
    /// the stream; nothing waits for the device (the next Download does). The buffers are kept and only grow, so a
    /// steady stream of frames allocates nothing; PreprocessOp uploads its tap tables once per source size.
    /// </summary>
    public void Preprocess(IReadOnlyList<RgbImage> images, PreprocessSettings settings, ArenaSlice destination)
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
        preprocessOp ??= new PreprocessOp(Device);

        long offset = 0;
        var output = View(destination);
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
        pixels = Device.Accelerator.Allocate1D<byte>(Math.Max(bytes, 1));
        pixelStaging = GC.AllocateUninitializedArray<byte>((int)Math.Max(bytes, 1), pinned: true);
    }

    public void Download(ArenaSlice source, Span<float> destination)
    {
        if (destination.Length != source.Length) throw new ArgumentException($"download: a slice of {source.Length} floats into {destination.Length}");
        Stream.Synchronize();
        arena!.View.SubView(source.Offset, source.Length).CopyToCPU(Stream, destination);
        Stream.Synchronize();
    }

    public void Synchronize() => Stream.Synchronize();

    public ILayerExecutor Conv(ConvStep step, ArenaSlice input, ArenaSlice output) => new IlgpuConv(this, step, input, output);

    public ILayerExecutor Relu(ReluStep step, ArenaSlice input, ArenaSlice output) =>
        new IlgpuLaunch(step.Layer, () => ReluOp.Forward(View(input), View(output), Stream));

    public ILayerExecutor Pool(PoolStep step, ArenaSlice input, ArenaSlice output) => new IlgpuLaunch(step.Layer, step.Method == PoolMethod.Max
        ? () => PoolOp.Max(step.Geometry, View(input), View(output), Stream)
        : () => PoolOp.Average(step.Geometry, AvgPoolDivisor.PaddedWindow, View(input), View(output), Stream));

    public ILayerExecutor Normalize(NormalizeStep step, ArenaSlice input, ArenaSlice output) => new IlgpuNormalize(this, step, input, output);

    public ILayerExecutor Permute(PermuteStep step, ArenaSlice input, ArenaSlice output) =>
        new IlgpuLaunch(step.Layer, () => LayoutOp.Permute(step.Input.Shape, step.Order, View(input), View(output), Stream));

    public ILayerExecutor Concat(ConcatStep step, IReadOnlyList<ArenaSlice> inputs, ArenaSlice output)
    {
        var views = inputs.Select(View).ToArray(); // the arena is allocated before the executors and never moves
        return new IlgpuLaunch(step.Layer, () => LayoutOp.ConcatRows(step.Rows, views, View(output), Stream));
    }

    public ILayerExecutor Softmax(SoftmaxStep step, ArenaSlice input, ArenaSlice output) =>
        new IlgpuLaunch(step.Layer, () => SoftmaxOp.Forward(step.Outer, step.Classes, step.Inner, View(input), View(output), Stream));

    public ILayerExecutor Eltwise(EltwiseStep step, IReadOnlyList<ArenaSlice> inputs, ArenaSlice output)
    {
        var views = inputs.Select(View).ToArray();
        return new IlgpuLaunch(step.Layer, () => EltwiseOp.Forward(step.Mode, views, step.Coefficients, View(output), Stream));
    }

    public ILayerExecutor Affine(AffineStep step, ArenaSlice input, ArenaSlice output) => new IlgpuAffine(this, step, input, output);

    public PriorBoxes Priors(PriorRequest request)
    {
        var op = new PriorOp(Device);
        using var buffer = request.Style switch
        {
            ModelFlavor.Caffe => op.Caffe(request.Caffe!),
            ModelFlavor.SsdPytorch => op.SsdPytorch(request.SsdPytorch!),
            _ => op.Torchvision(request.Torchvision!, request.Grids, request.ImageHeight, request.ImageWidth),
        };
        var all = buffer.GetAsArray1D();
        return request.Style == ModelFlavor.Caffe ? request.Split(all) : new PriorBoxes(request.Style, all, null);
    }

    public void Dispose()
    {
        arena?.Dispose();
        pixels?.Dispose();
        preprocessOp?.Dispose();
        Stream.Dispose();
        if (ownsDevice) Device.Dispose();
    }
}
