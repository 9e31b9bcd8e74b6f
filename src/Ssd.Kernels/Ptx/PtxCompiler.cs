using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Ptx;

/// <summary>The PTX of one kernel for one architecture.</summary>
internal sealed record CompiledPtx(KernelEntry Kernel, GpuArch Arch, string Assembly)
{
    /// <summary>File name for the PTX: Family.Name.ptx.</summary>
    public string FileName => $"{Kernel.FullName}.ptx";
}

/// <summary>
/// Compiles kernels to PTX with ILGPU's PTX backend, without a GPU, in the same context configuration that
/// <see cref="ComputeDevice"/> runs them in (<see cref="KernelContext"/>). Thread-safe.
/// </summary>
internal sealed class PtxCompiler : IDisposable
{
    private readonly Context context;
    private readonly bool ownsContext;
    private readonly Dictionary<CudaArchitecture, PTXBackend> backends = [];
    private readonly object gate = new();

    /// <summary>A compiler with a context of its own (<see cref="KernelContext.Create"/>).</summary>
    public PtxCompiler() : this(KernelContext.Create(), ownsContext: true) { }

    /// <summary>A compiler in the given context, which the caller keeps and disposes.</summary>
    public PtxCompiler(Context context) : this(context, ownsContext: false) { }

    private PtxCompiler(Context context, bool ownsContext)
    {
        this.context = context;
        this.ownsContext = ownsContext;
    }

    /// <summary>
    /// Compiles one kernel: implicitly grouped ones without specialisation, explicitly grouped ones specialised to
    /// their group size (which ILGPU writes as `.maxntid`, as it does when a CUDA accelerator loads them).
    /// </summary>
    public CompiledPtx Compile(KernelEntry kernel, GpuArch arch)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentNullException.ThrowIfNull(arch);
        if (!kernel.Method.IsStatic || kernel.Method.ContainsGenericParameters)
            throw new ArgumentException($"kernel {kernel.FullName} ({kernel.Method.DeclaringType}.{kernel.Method.Name}) must be a static, non-generic method");
        if (kernel.GroupSize < 0)
            throw new ArgumentException($"kernel {kernel.FullName} has a negative group size {kernel.GroupSize}");

        var entry = kernel.ExplicitlyGrouped
            ? EntryPointDescription.FromExplicitlyGroupedKernel(kernel.Method)
            : EntryPointDescription.FromImplicitlyGroupedKernel(kernel.Method);
        var specialization = kernel.ExplicitlyGrouped
            ? new KernelSpecialization(kernel.GroupSize, null)
            : KernelSpecialization.Empty;
        try
        {
            // ILGPU's IR passes share per-context state; compile one kernel at a time (each takes milliseconds).
            lock (gate)
            {
                var compiled = (PTXCompiledKernel)Backend(arch.PtxTarget).Compile(entry, specialization);
                return new CompiledPtx(kernel, arch, compiled.PTXAssembly);
            }
        }
        catch (Exception e) when (e is not ArgumentException)
        {
            throw new InvalidOperationException($"ILGPU could not compile kernel {kernel.FullName} to PTX for {arch.Name}: {e.Message}", e);
        }
    }

    /// <summary>Compiles every given kernel (e.g. <see cref="KernelCatalog.All"/>) for one architecture.</summary>
    public IReadOnlyList<CompiledPtx> CompileAll(IEnumerable<KernelEntry> kernels, GpuArch arch) =>
        kernels.Select(k => Compile(k, arch)).ToList();

    private PTXBackend Backend(CudaArchitecture target)
    {
        if (!backends.TryGetValue(target, out var backend))
            backends[target] = backend = new PTXBackend(context, target, GpuArch.InstructionSet, nvvmAPI: null!);
        return backend;
    }

    public void Dispose()
    {
        lock (gate)
        {
            foreach (var backend in backends.Values) backend.Dispose();
            backends.Clear();
        }
        if (ownsContext) context.Dispose();
    }
}
