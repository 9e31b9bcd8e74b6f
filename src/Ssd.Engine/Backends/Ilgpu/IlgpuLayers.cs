using ILGPU;
using ILGPU.Runtime;
using Ssd.Engine.Graph;
using Ssd.Kernels.Activation;
using Ssd.Kernels.BatchNorm;
using Ssd.Kernels.Conv;
using Ssd.Kernels.L2Norm;
using Ssd.Kernels.Layout;
using Ssd.Kernels.Pooling;
using Ssd.Kernels.Softmax;
using Ssd.Weights.Model;

namespace Ssd.Engine.Backends.Ilgpu;

/// <summary>The device executors: each holds its views of the arena (and its weights on the device) and launches
/// its op family's kernel on the backend's one stream.</summary>
internal sealed class IlgpuConv : ILayerExecutor, IDisposable
{
    private readonly IlgpuBackend backend;
    private readonly ConvStep step;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> weight, bias;
    private readonly ArenaSlice input, output;

    public IlgpuConv(IlgpuBackend backend, ConvStep step, ArenaSlice input, ArenaSlice output)
    {
        (this.backend, this.step, this.input, this.output) = (backend, step, input, output);
        step.Params.CheckLengths(step.InShape, step.OutChannels, input.Length, step.Weight.Length, step.Bias?.Length ?? 0, output.Length);
        weight = backend.Device.Upload(step.Weight);
        bias = backend.Device.Upload(step.Bias ?? [0f]);
    }

    public string Layer => step.Layer;
    public void Run() => backend.ConvOp.Forward(backend.View(input), step.InShape, weight.View, bias.View, step.Params, step.OutChannels,
        backend.View(output), stream: backend.Stream);
    public void Dispose() { weight.Dispose(); bias.Dispose(); }
}

internal sealed class IlgpuNormalize : ILayerExecutor, IDisposable
{
    private readonly IlgpuBackend backend;
    private readonly NormalizeStep step;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> scale;
    private readonly ArenaSlice input, output;

    public IlgpuNormalize(IlgpuBackend backend, NormalizeStep step, ArenaSlice input, ArenaSlice output)
    {
        (this.backend, this.step, this.input, this.output) = (backend, step, input, output);
        scale = backend.Device.Upload(step.Scale);
    }

    public string Layer => step.Layer;
    public void Run() => backend.L2NormOp.Forward(step.Input.Nchw, backend.View(input), scale.View, step.Mode, step.Eps, backend.View(output), backend.Stream);
    public void Dispose() => scale.Dispose();
}

/// <summary>BatchNorm / Scale / ReLU kept as an op: the per-channel constants uploaded once.</summary>
internal sealed class IlgpuAffine : ILayerExecutor, IDisposable
{
    private readonly IlgpuBackend backend;
    private readonly AffineStep step;
    private readonly DeviceChannelAffine constants;
    private readonly ArenaSlice input, output;

    public IlgpuAffine(IlgpuBackend backend, AffineStep step, ArenaSlice input, ArenaSlice output)
    {
        (this.backend, this.step, this.input, this.output) = (backend, step, input, output);
        step.Affine.Check(step.Geometry, input.Length, output.Length);
        constants = backend.BatchNormOp.Upload(step.Affine);
    }

    public string Layer => step.Layer;
    public void Run() => backend.BatchNormOp.Forward(step.Geometry, constants, backend.View(input), backend.View(output), backend.Stream);
    public void Dispose() => constants.Dispose();
}

/// <summary>An executor that is just a launch on views (no weights).</summary>
internal sealed class IlgpuLaunch(string layer, Action run) : ILayerExecutor
{
    public string Layer { get; } = layer;
    public void Run() => run();
}
