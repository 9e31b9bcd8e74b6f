using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Preprocess;

/// <summary>
/// Launches the pre-processing of one image (interleaved RGB bytes on the device) into its slice of the NCHW
/// network input. The tap tables are computed on the host and kept per (source size, settings), so a stream
/// of same-sized frames uploads them once. One launch per image; use one op per stream.
/// </summary>
internal sealed class PreprocessOp(ComputeDevice device) : IDisposable
{
    private const int MaxCachedTables = 16;

    private readonly Action<AcceleratorStream, Index1D, ArrayView<byte>, ArrayView<int>, ArrayView<float>, PreprocessConstants> openCv =
        device.Kernel("preprocess.opencv.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<byte>, ArrayView<int>, ArrayView<float>, PreprocessConstants>(PreprocessKernels.OpenCvLinear1));

    private readonly Action<AcceleratorStream, Index1D, ArrayView<byte>, ArrayView<int>, ArrayView<float>, ArrayView<float>, PreprocessConstants> torch =
        device.Kernel("preprocess.torch.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<byte>, ArrayView<int>, ArrayView<float>, ArrayView<float>, PreprocessConstants>(PreprocessKernels.TorchBilinear1));

    private readonly Dictionary<(ResizeKind, int, int, int, int), (MemoryBuffer1D<int, Stride1D.Dense> Index, MemoryBuffer1D<float, Stride1D.Dense>? Lambda)> tables = [];

    /// <summary>Pre-processes <paramref name="rgb"/> (srcWidth x srcHeight x 3 bytes) into <paramref name="output"/> (3 x H x W floats).</summary>
    public void Forward(ArrayView<byte> rgb, int srcWidth, int srcHeight, PreprocessSettings settings, ArrayView<float> output, AcceleratorStream? stream = null)
    {
        PreprocessReference.CheckArguments(rgb.Length, srcWidth, srcHeight, settings, output.Length);
        var s = stream ?? device.Accelerator.DefaultStream;
        var k = settings.Constants(srcWidth, srcHeight);
        var (index, lambda) = Tables(settings.Resize, srcWidth, srcHeight, settings.Width, settings.Height);
        if (settings.Resize == ResizeKind.OpenCvLinear) openCv(s, (int)output.Length, rgb, index.View, output, k);
        else torch(s, (int)output.Length, rgb, index.View, lambda!.View, output, k);
    }

    private (MemoryBuffer1D<int, Stride1D.Dense>, MemoryBuffer1D<float, Stride1D.Dense>?) Tables(ResizeKind kind, int sw, int sh, int dw, int dh)
    {
        var key = (kind, sw, sh, dw, dh);
        if (tables.TryGetValue(key, out var t)) return t;
        if (tables.Count >= MaxCachedTables) DropTables();
        if (kind == ResizeKind.OpenCvLinear)
        {
            var taps = OpenCvLinearTables.Build(sw, sh, dw, dh);
            t = (Upload<int>(taps), null);
        }
        else
        {
            var (index, lambda) = TorchBilinearTables.Build(sw, sh, dw, dh);
            t = (Upload<int>(index), Upload<float>(lambda));
        }
        tables[key] = t;
        return t;
    }

    private MemoryBuffer1D<T, Stride1D.Dense> Upload<T>(T[] data) where T : unmanaged
    {
        var b = device.Accelerator.Allocate1D<T>(data.Length);
        b.View.BaseView.CopyFromCPU(data);
        return b;
    }

    private void DropTables()
    {
        device.Synchronize(); // launches still queued may read them
        foreach (var (index, lambda) in tables.Values) { index.Dispose(); lambda?.Dispose(); }
        tables.Clear();
    }

    public void Dispose() => DropTables();
}
