using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Conv;
using Ssd.Kernels.Core;

namespace Ssd.Bench;

/// <summary>
/// Conv2d variants on SSD300's two heaviest layers (batch 1) on PoCL: conv4_3 (512->512, 38x38, 3x3 pad 1,
/// 6.8 GFLOP) and the dilated fc6 (512->1024, 19x19, 3x3 pad 6 dilation 6, 3.4 GFLOP). One launch per invocation;
/// Monitoring strategy, in process (one device, kernels compiled once), because a single launch takes seconds. The GFLOP/s column is 2*MACs / mean time.
/// </summary>
[Config(typeof(GflopsConfig))]
public class Conv2dBenchmarks
{
    public static readonly Dictionary<string, (TensorShape Input, int OutC, Conv2dParams P)> Layers = new()
    {
        ["conv4_3"] = (new TensorShape(1, 512, 38, 38), 512, Conv2dParams.Square(3, pad: 1, fuseRelu: true)),
        ["fc6"] = (new TensorShape(1, 512, 19, 19), 1024, Conv2dParams.Square(3, pad: 6, dilation: 6, fuseRelu: true)),
    };

    [Params("conv4_3", "fc6")]
    public string Layer { get; set; } = "conv4_3";

    /// <summary>The device variant by name (a string: the variants are Ssd.Kernels internals, and BenchmarkDotNet's
    /// generated code sees only public types).</summary>
    [Params(nameof(Conv2dVariant.Naive), nameof(Conv2dVariant.Tiled))]
    public string Variant { get; set; } = nameof(Conv2dVariant.Naive);

    [Params(BackendKind.OpenCL)]
    public BackendKind Backend { get; set; }

    private ComputeDevice device = null!;
    private Conv2dOp op = null!;
    private MemoryBuffer1D<float, Stride1D.Dense> x = null!, w = null!, b = null!, y = null!;
    private (TensorShape Input, int OutC, Conv2dParams P) layer;

    [GlobalSetup]
    public void Setup()
    {
        layer = Layers[Layer];
        device = ComputeDevice.Create(Backend);
        op = new Conv2dOp(device);
        var rng = new Random(1);
        float[] Random(long n) { var a = new float[n]; for (long i = 0; i < n; i++) a[i] = rng.NextSingle() - 0.5f; return a; }
        x = device.Upload(Random(layer.Input.Count));
        w = device.Upload(Random(layer.P.WeightCount(layer.Input.C, layer.OutC)));
        b = device.Upload(Random(layer.OutC));
        y = device.Allocate(layer.P.OutputShape(layer.Input, layer.OutC).Count);
        Forward(); // loads (compiles) the kernel outside the measurement
    }

    [Benchmark]
    public void Forward()
    {
        op.Forward(x.View, layer.Input, w.View, b.View, layer.P, layer.OutC, y.View, Enum.Parse<Conv2dVariant>(Variant));
        device.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var buffer in new[] { x, w, b, y }) buffer?.Dispose();
        device?.Dispose();
    }

    public static double Flops(string layerName)
    {
        var (input, outC, p) = Layers[layerName];
        return p.Flops(input, outC);
    }
}

/// <summary>Adds a GFLOP/s column computed from each case's Layer parameter and mean time.</summary>
public sealed class GflopsConfig : ManualConfig
{
    public GflopsConfig()
    {
        AddJob(Job.Default.WithStrategy(RunStrategy.Monitoring).WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(3)
            .WithToolchain(InProcessEmitToolchain.Instance).WithId("PoclShort"));
        AddColumn(new GflopsColumn(b => Conv2dBenchmarks.Flops((string)b.Parameters["Layer"])));
    }
}
