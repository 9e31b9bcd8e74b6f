using System.Runtime.InteropServices;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Ssd.Kernels.Core;

/// <summary>
/// A network's launches, fixed when its executors are made (each executor holds its kernels, views, geometry and
/// launch configuration, so a run neither allocates nor looks anything up), run in order on one stream. With
/// <see cref="DeviceOptions.CudaGraphs"/> on a CUDA device the second run is captured into a CUDA graph
/// (<see cref="CudaGraph"/>) and every later run replays it with one driver call: no host work per kernel. The first
/// run stays a plain one so that kernels are loaded and scratch allocated before the capture. When capture fails the
/// plan keeps launching plainly and says why in <see cref="GraphStatus"/>.
/// </summary>
internal sealed class LaunchPlan(IReadOnlyList<IOpExecutor> steps, AcceleratorStream? stream = null, bool captureGraph = false) : IDisposable
{
    private CudaGraph? graph;
    private int runs;

    public IReadOnlyList<IOpExecutor> Steps { get; } = steps;

    /// <summary>"off", "pending", "replaying", or why capture failed.</summary>
    public string GraphStatus { get; private set; } = captureGraph && stream is CudaStream ? "pending" : "off";

    /// <summary>True once runs replay a captured graph.</summary>
    public bool Replaying => graph is not null;

    /// <summary>Queues every step (or replays the graph).</summary>
    public void Run()
    {
        if (graph is not null)
        {
            graph.Launch();
            return;
        }
        if (GraphStatus == "pending" && runs++ >= 1)
        {
            try
            {
                graph = CudaGraph.Capture((CudaStream)stream!, RunSteps);
                GraphStatus = "replaying";
                graph.Launch();
                return;
            }
            catch (Exception e) when (e is CudaGraphException or DllNotFoundException or EntryPointNotFoundException)
            {
                GraphStatus = $"capture failed: {e.Message}";
            }
        }
        RunSteps();
    }

    /// <summary>Queues every step one by one, never through the graph (profiling, tests).</summary>
    public void RunSteps()
    {
        foreach (var s in Steps) s.Run();
    }

    public void Dispose()
    {
        graph?.Dispose();
        graph = null;
    }
}

/// <summary>A CUDA driver call that failed, with its CUresult.</summary>
internal sealed class CudaGraphException(string message) : Exception(message);

/// <summary>
/// A CUDA graph captured from a stream and instantiated, through the CUDA driver API directly: ILGPU 1.5.3 binds no
/// graph functions (its CudaAPI has streams, events, launches and copies, but no cuStreamBeginCapture or cuGraph*),
/// yet it exposes the CUstream of its streams (<see cref="CudaStream.StreamPtr"/>), and its kernel launches are plain
/// cuLaunchKernel calls on that stream, which stream capture records. So: cuStreamBeginCapture on ILGPU's stream, run
/// the launches, cuStreamEndCapture, cuGraphInstantiateWithFlags, and cuGraphLaunch per replay.
/// </summary>
internal sealed unsafe class CudaGraph : IDisposable
{
    private const int CaptureModeRelaxed = 2;
    private readonly CudaStream stream;
    private nint graph, exec;

    private CudaGraph(CudaStream stream, nint graph, nint exec) => (this.stream, this.graph, this.exec) = (stream, graph, exec);

    /// <summary>Captures what <paramref name="record"/> queues on <paramref name="stream"/> (it must only launch kernels there).</summary>
    public static CudaGraph Capture(CudaStream stream, Action record)
    {
        var api = Driver.Value;
        stream.Accelerator.Bind();
        Check(api.BeginCapture(stream.StreamPtr, CaptureModeRelaxed), "cuStreamBeginCapture");
        nint g = 0;
        try
        {
            record();
        }
        finally
        {
            var ended = api.EndCapture(stream.StreamPtr, &g);
            if (ended != 0 && g != 0) api.GraphDestroy(g);
            Check(ended, "cuStreamEndCapture");
        }
        nint e = 0;
        var result = api.Instantiate(&e, g, 0);
        if (result != 0)
        {
            api.GraphDestroy(g);
            Check(result, "cuGraphInstantiateWithFlags");
        }
        return new CudaGraph(stream, g, e);
    }

    /// <summary>Queues one replay on the stream it was captured from.</summary>
    public void Launch()
    {
        ObjectDisposedException.ThrowIf(exec == 0, this);
        Check(Driver.Value.Launch(exec, stream.StreamPtr), "cuGraphLaunch");
    }

    public void Dispose()
    {
        if (exec != 0) Driver.Value.ExecDestroy(exec);
        if (graph != 0) Driver.Value.GraphDestroy(graph);
        exec = graph = 0;
    }

    private static void Check(int result, string call)
    {
        if (result != 0) throw new CudaGraphException($"{call} returned CUresult {result}");
    }

    private static readonly Lazy<Api> Driver = new(Api.Load);

    private sealed class Api
    {
        public delegate* unmanaged<nint, int, int> BeginCapture;
        public delegate* unmanaged<nint, nint*, int> EndCapture;
        public delegate* unmanaged<nint*, nint, ulong, int> Instantiate;
        public delegate* unmanaged<nint, nint, int> Launch;
        public delegate* unmanaged<nint, int> ExecDestroy;
        public delegate* unmanaged<nint, int> GraphDestroy;

        public static Api Load()
        {
            var lib = OperatingSystem.IsWindows() ? NativeLibrary.Load("nvcuda.dll") : NativeLibrary.Load("libcuda.so.1");
            return new Api
            {
                BeginCapture = (delegate* unmanaged<nint, int, int>)NativeLibrary.GetExport(lib, "cuStreamBeginCapture_v2"),
                EndCapture = (delegate* unmanaged<nint, nint*, int>)NativeLibrary.GetExport(lib, "cuStreamEndCapture"),
                Instantiate = (delegate* unmanaged<nint*, nint, ulong, int>)NativeLibrary.GetExport(lib, "cuGraphInstantiateWithFlags"),
                Launch = (delegate* unmanaged<nint, nint, int>)NativeLibrary.GetExport(lib, "cuGraphLaunch"),
                ExecDestroy = (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(lib, "cuGraphExecDestroy"),
                GraphDestroy = (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(lib, "cuGraphDestroy"),
            };
        }
    }
}
