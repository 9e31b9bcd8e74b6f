using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace Ssd.Kernels.Core;

/// <summary>
/// An ILGPU context plus one accelerator, and the cache of loaded kernels.
/// Loading a kernel costs 200-300 ms on the CPU simulator and seconds on PoCL, so every kernel is
/// loaded once per device and its launcher reused. Thread-safe.
/// </summary>
public sealed class ComputeDevice : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<object>> kernels = new();

    /// <summary>The ILGPU context this device owns.</summary>
    public Context Context { get; }
    /// <summary>The ILGPU accelerator kernels are loaded on and launched through.</summary>
    public Accelerator Accelerator { get; }
    /// <summary>CUDA, OpenCL or the CPU simulator.</summary>
    public BackendKind Kind { get; }

    private ComputeDevice(Context context, Accelerator accelerator, BackendKind kind)
    {
        Context = context;
        Accelerator = accelerator;
        Kind = kind;
    }

    /// <summary>
    /// Creates a device. Auto picks CUDA when present, else OpenCL (a GPU first, then PoCL), else the CPU simulator.
    /// <paramref name="index"/> picks one device of the kind: the index-th CUDA device (CUDA's own numbering), or the
    /// index-th OpenCL device in ILGPU's listing order; null takes the first (OpenCL: a GPU before PoCL). An index the
    /// machine does not have throws <see cref="InvalidOperationException"/> naming how many there are.
    /// </summary>
    public static ComputeDevice Create(BackendKind kind = BackendKind.Auto, int? index = null)
    {
        if (index is < 0) throw new ArgumentOutOfRangeException(nameof(index), index, $"device index {index} must not be negative");
        if (index is not null && kind == BackendKind.CpuSim) throw new ArgumentException($"device index {index}: the CPU simulator has one device");
        // One context definition (O2, IEEE math, Algorithms), shared with the PTX compiler: see KernelContext.
        var context = KernelContext.Create();
        try
        {
            var (accelerator, chosen) = index is { } i ? CreateIndexed(context, kind, i) : CreateAccelerator(context, kind);
            return new ComputeDevice(context, accelerator, chosen);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    private static (Accelerator, BackendKind) CreateAccelerator(Context context, BackendKind kind)
    {
        switch (kind)
        {
            case BackendKind.Cuda:
                return (CudaDevices(context).FirstOrDefault()?.CreateAccelerator(context)
                    ?? throw new InvalidOperationException("backend 'cuda' requested but no CUDA device was found"), BackendKind.Cuda);
            case BackendKind.OpenCL:
                return (CreateOpenCL(context)
                    ?? throw new InvalidOperationException("backend 'opencl' requested but no usable OpenCL device was found (install pocl-opencl-icd and ocl-icd-opencl-dev for a CPU one)"
                        + (LastOpenCLError is null ? "" : $"; last error: {LastOpenCLError}")), BackendKind.OpenCL);
            case BackendKind.CpuSim:
                return (context.GetCPUDevice(0).CreateAccelerator(context), BackendKind.CpuSim);
            default:
                var cuda = CudaDevices(context).FirstOrDefault();
                if (cuda is not null) return (cuda.CreateAccelerator(context), BackendKind.Cuda);
                var cl = CreateOpenCL(context);
                if (cl is not null) return (cl, BackendKind.OpenCL);
                return (context.GetCPUDevice(0).CreateAccelerator(context), BackendKind.CpuSim);
        }
    }

    /// <summary>The index-th device of a kind (Auto: CUDA); a clear error when the machine has fewer.</summary>
    private static (Accelerator, BackendKind) CreateIndexed(Context context, BackendKind kind, int index)
    {
        if (kind == BackendKind.OpenCL)
        {
            IReadOnlyList<CLDevice> devices;
            try { var list = new List<CLDevice>(); foreach (var d in context.GetCLDevices()) list.Add(d); devices = list; }
            catch (Exception) { devices = []; }
            if (index >= devices.Count) throw new InvalidOperationException($"backend 'opencl' device {index} requested but {Count(devices.Count, "OpenCL device")} found");
            PoclCompatibility.ForceGenericAddressSpace(devices[index]);
            return (devices[index].CreateAccelerator(context), BackendKind.OpenCL);
        }
        var cuda = CudaDevices(context).ToList();
        if (index >= cuda.Count) throw new InvalidOperationException($"backend 'cuda' device {index} requested but {Count(cuda.Count, "CUDA device")} found");
        return (cuda[index].CreateAccelerator(context), BackendKind.Cuda);
    }

    private static string Count(int n, string what) => n switch { 0 => $"no {what} was", 1 => $"1 {what} was", _ => $"{n} {what}s were" };

    /// <summary>How many CUDA devices ILGPU finds (0 without an NVIDIA GPU and its driver).</summary>
    public static int CudaDeviceCount()
    {
        using var context = KernelContext.Create();
        return CudaDevices(context).Count();
    }

    /// <summary>The first CUDA device, or null when there is none; one context either way (the one the device keeps).</summary>
    public static ComputeDevice? TryCreateCuda()
    {
        var context = KernelContext.Create();
        try
        {
            var cuda = CudaDevices(context).FirstOrDefault();
            if (cuda is not null) return new ComputeDevice(context, cuda.CreateAccelerator(context), BackendKind.Cuda);
        }
        catch
        {
            context.Dispose();
            throw;
        }
        context.Dispose();
        return null;
    }

    /// <summary>True when ILGPU finds a CUDA device (an NVIDIA GPU with its driver).</summary>
    public static bool HasCuda()
    {
        using var context = KernelContext.Create();
        return CudaDevices(context).Any();
    }

    private static IEnumerable<CudaDevice> CudaDevices(Context context)
    {
        try { var list = new List<CudaDevice>(); foreach (var d in context.GetCudaDevices()) list.Add(d); return list; }
        catch (Exception) { return []; }
    }

    /// <summary>Why the last OpenCL device that was tried could not be used (for error messages).</summary>
    private static string? LastOpenCLError;

    private static Accelerator? CreateOpenCL(Context context)
    {
        IReadOnlyList<CLDevice> devices;
        try { var list = new List<CLDevice>(); foreach (var d in context.GetCLDevices()) list.Add(d); devices = list; }
        catch (Exception) { return null; }
        // Prefer a real GPU; fall back to PoCL on the CPU.
        foreach (var device in devices.OrderBy(d => PoclCompatibility.IsPocl(d) ? 1 : 0))
        {
            try
            {
                PoclCompatibility.ForceGenericAddressSpace(device);
                return device.CreateAccelerator(context);
            }
            catch (Exception e) { LastOpenCLError = $"{device.Name}: {e.GetType().Name}: {e.Message}"; }
        }
        return null;
    }

    /// <summary>A one-line description: backend and device name.</summary>
    public string Description => $"{Kind} ({Accelerator.Name})";

    /// <summary>
    /// Returns the launcher cached under <paramref name="key"/>, loading it with <paramref name="load"/> the first time.
    /// Use a key unique to the kernel and its specialisation, e.g. "conv2d.tiled.v2".
    /// </summary>
    public TDelegate Kernel<TDelegate>(string key, Func<Accelerator, TDelegate> load) where TDelegate : Delegate =>
        (TDelegate)kernels.GetOrAdd(key, _ => new Lazy<object>(() => load(Accelerator))).Value;

    /// <summary>Allocates a dense float buffer on the device.</summary>
    public MemoryBuffer1D<float, Stride1D.Dense> Allocate(long length) => Accelerator.Allocate1D<float>(length);

    /// <summary>Copies host data into a new device buffer.</summary>
    public MemoryBuffer1D<float, Stride1D.Dense> Upload(ReadOnlySpan<float> data)
    {
        var buffer = Accelerator.Allocate1D<float>(data.Length);
        buffer.View.BaseView.CopyFromCPU(data);
        return buffer;
    }

    /// <summary>Waits until every launch queued on the accelerator has finished.</summary>
    public void Synchronize() => Accelerator.Synchronize();

    /// <summary>Disposes the accelerator and the context (with every buffer and kernel loaded on them).</summary>
    public void Dispose()
    {
        Accelerator.Dispose();
        Context.Dispose();
    }
}
