using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Ssd.Kernels.Cpu;
using Ssd.Kernels.Activation;
using Ssd.Kernels.Core;
using Ssd.Kernels.L2Norm;
using Ssd.Kernels.Layout;
using Ssd.Kernels.Pooling;
using Ssd.Kernels.Softmax;

namespace Ssd.Bench;

/// <summary>
/// The managed CPU backend's memory-bound ops at SSD300 sizes: the plain reference (one thread, scalar) against the
/// SIMD, 2-thread op the backend runs (bit-identical results, tests/Ssd.Tests/Cpu/CpuOpsTests.cs).
/// Run: dotnet run -c Release --project bench/Ssd.Bench -- --filter '*CpuOpsBenchmarks*'
/// </summary>
[Config(typeof(Config))]
public class CpuOpsBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance));
    }

    public enum Op { Pool1, Pool3, Pool5, L2Norm, Softmax, Permute, Concat, Relu }

    [Params(Op.Pool1, Op.Pool3, Op.Pool5, Op.L2Norm, Op.Softmax, Op.Permute, Op.Concat, Op.Relu)]
    public Op Layer { get; set; }

    private const int Boxes = 8732, Classes = 21;
    private static readonly int[] HeadDims = [1, 84, 38, 38]; // conv4_3's confidence head: 4 boxes x 21 classes
    private static readonly int[] ConfLengths = [38 * 38 * 84, 19 * 19 * 126, 10 * 10 * 126, 5 * 5 * 126, 3 * 3 * 84, 84];
    private readonly CpuOpOptions fast = new(Threads: 2);
    private float[] x = null!, y = null!, scale = null!;
    private float[][] heads = null!;
    private int[] offsets = null!;
    private PoolGeometry pool;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(300);
        float[] Random(long n) { var a = new float[n]; for (long i = 0; i < n; i++) a[i] = rng.NextSingle() * 4 - 2; return a; }
        (TensorShape input, long output) = Layer switch
        {
            Op.Pool1 => Pool(new(1, 64, 300, 300), 2, 2, 0),
            Op.Pool3 => Pool(new(1, 256, 75, 75), 2, 2, 0),
            Op.Pool5 => Pool(new(1, 512, 19, 19), 3, 1, 1),
            Op.L2Norm => (new TensorShape(1, 512, 38, 38), 512 * 38 * 38),
            Op.Softmax => (new TensorShape(1, 1, Boxes, Classes), Boxes * Classes),
            Op.Permute => (new TensorShape(1, 84, 38, 38), 84 * 38 * 38),
            Op.Concat => (new TensorShape(1, 1, 1, ConfLengths.Sum()), ConfLengths.Sum()),
            _ => (new TensorShape(1, 512, 38, 38), 512 * 38 * 38),
        };
        x = Random(input.Count);
        y = new float[output];
        scale = Random(512);
        // The reference concatenates separate arrays; the fast one reads slices of one buffer (the arena), x.
        heads = ConfLengths.Select(l => Random(l)).ToArray();
        offsets = new int[ConfLengths.Length];
        for (int t = 1; t < offsets.Length; t++) offsets[t] = offsets[t - 1] + ConfLengths[t - 1];
        if (Layer == Op.Concat)
            for (int t = 0; t < heads.Length; t++) heads[t].CopyTo(x, offsets[t]);
    }

    private (TensorShape, long) Pool(TensorShape input, int k, int s, int p)
    {
        pool = PoolGeometry.Create(input, k, s, p, PoolOutputRule.CaffeCeil);
        return (input, pool.Output.Count);
    }

    [Benchmark(Baseline = true)]
    public float Reference()
    {
        switch (Layer)
        {
            case Op.Pool1 or Op.Pool3 or Op.Pool5: PoolReference.Max(pool, x, y); break;
            case Op.L2Norm: L2NormReference.Forward(1, 512, 38, 38, x, scale, L2NormEpsilon.InsideSqrt, L2NormDefaults.CaffeEps, y); break;
            case Op.Softmax: SoftmaxReference.Rows(Boxes, Classes, x, y); break;
            case Op.Permute: LayoutReference.Permute(HeadDims, PermuteGeometry.NchwToNhwc, x, y); break;
            case Op.Concat: LayoutReference.ConcatRows(1, heads, y); break;
            default: ReluReference.Forward(x, y); break;
        }
        return y[0];
    }

    [Benchmark]
    public float Fast()
    {
        switch (Layer)
        {
            case Op.Pool1 or Op.Pool3 or Op.Pool5: CpuPooling.Max(pool, x, y, fast); break;
            case Op.L2Norm: CpuL2Norm.Forward(1, 512, 38, 38, x, scale, L2NormEpsilon.InsideSqrt, L2NormDefaults.CaffeEps, y, fast); break;
            case Op.Softmax: CpuSoftmax.Forward(Boxes, Classes, 1, x, y, fast); break;
            case Op.Permute: CpuLayout.Permute(HeadDims, PermuteGeometry.NchwToNhwc, x, y, fast); break;
            case Op.Concat: CpuLayout.ConcatRows(1, x, offsets, ConfLengths, y, fast); break;
            default: CpuRelu.Forward(x, y, fast); break;
        }
        return y[0];
    }
}
