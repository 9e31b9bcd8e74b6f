using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;
using Ssd.Kernels.L2Norm;
using Ssd.Kernels.Layout;
using Ssd.Kernels.Pooling;
using Ssd.Kernels.Softmax;

namespace Ssd.Bench;

/// <summary>
/// The small SSD300 ops at their real sizes, one launch plus synchronise each, on the default device
/// (CUDA when present, else OpenCL/PoCL, else the CPU simulator; set SSD_BACKEND to choose).
/// Run: dotnet run -c Release --project bench/Ssd.Bench -- --filter '*OpsBenchmarks*'
/// </summary>
[Config(typeof(Config))]
public class OpsBenchmarks
{
    private sealed class Config : ManualConfig
    {
        // In process: the ILGPU context and compiled kernels are made once in GlobalSetup, not per child process.
        public Config() => AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance));
    }

    private ComputeDevice device = null!;
    private MemoryBuffer1D<float, Stride1D.Dense> conv43 = null!, conv43Out = null!, scale = null!;
    private MemoryBuffer1D<float, Stride1D.Dense> pool4Out = null!, fc7 = null!, pool5Out = null!;
    private MemoryBuffer1D<float, Stride1D.Dense> conf = null!, confOut = null!, head = null!, headOut = null!;
    private PoolGeometry pool4, pool5;
    private PoolOp pool = null!;
    private L2NormOp l2norm = null!;
    private SoftmaxOp softmax = null!;
    private LayoutOp layout = null!;

    private static readonly TensorShape Conv43 = new(1, 512, 38, 38);
    private static readonly int[] HeadDims = [1, 84, 38, 38]; // conv4_3 confidence head: 4 boxes x 21 classes
    private const int Boxes = 8732, Classes = 21;

    [GlobalSetup]
    public void Setup()
    {
        var kind = Environment.GetEnvironmentVariable("SSD_BACKEND") is { Length: > 0 } name ? BackendKindNames.Parse(name) : BackendKind.Auto;
        device = ComputeDevice.Create(kind);
        Console.WriteLine($"// device: {device.Description}");
        var rng = new Random(300);
        MemoryBuffer1D<float, Stride1D.Dense> Random(long n) =>
            device.Upload(Enumerable.Range(0, (int)n).Select(_ => rng.NextSingle() * 2 - 1).ToArray());

        pool4 = PoolGeometry.Create(Conv43, 2, 2, 0, PoolOutputRule.CaffeCeil);
        pool5 = PoolGeometry.Create(new TensorShape(1, 512, 19, 19), 3, 1, 1, PoolOutputRule.CaffeCeil);
        conv43 = Random(Conv43.Count);
        conv43Out = device.Allocate(Conv43.Count);
        scale = device.Upload(Enumerable.Repeat(20f, 512).ToArray());
        pool4Out = device.Allocate(pool4.Output.Count);
        fc7 = Random(pool5.Input.Count);
        pool5Out = device.Allocate(pool5.Output.Count);
        conf = Random(Boxes * Classes);
        confOut = device.Allocate(Boxes * Classes);
        head = Random(84 * 38 * 38);
        headOut = device.Allocate(84 * 38 * 38);
        pool = new PoolOp(device);
        l2norm = new L2NormOp(device);
        softmax = new SoftmaxOp(device);
        layout = new LayoutOp(device);
        // Compile every kernel before measuring.
        L2NormConv43(); MaxPool4(); MaxPool5(); SoftmaxConfidences(); PermuteHead();
    }

    [Benchmark(Description = "l2norm conv4_3 512x38x38")]
    public void L2NormConv43() { l2norm.Forward(Conv43, conv43.View, scale.View, L2NormEpsilon.InsideSqrt, L2NormDefaults.CaffeEps, conv43Out.View); device.Synchronize(); }

    [Benchmark(Description = "maxpool 2x2 s2 512x38x38")]
    public void MaxPool4() { pool.Max(pool4, conv43.View, pool4Out.View); device.Synchronize(); }

    [Benchmark(Description = "maxpool5 3x3 s1 p1 512x19x19")]
    public void MaxPool5() { pool.Max(pool5, fc7.View, pool5Out.View); device.Synchronize(); }

    [Benchmark(Description = "softmax 8732x21")]
    public void SoftmaxConfidences() { softmax.Rows(Boxes, Classes, conf.View, confOut.View); device.Synchronize(); }

    [Benchmark(Description = "permute NHWC 84x38x38")]
    public void PermuteHead() { layout.Permute(HeadDims, PermuteGeometry.NchwToNhwc, head.View, headOut.View); device.Synchronize(); }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var b in new[] { conv43, conv43Out, scale, pool4Out, fc7, pool5Out, conf, confOut, head, headOut }) b.Dispose();
        device.Dispose();
    }
}
