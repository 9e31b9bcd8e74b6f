using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Ssd.Engine.Imaging;
using Ssd.Engine.Training.Data;
using Ssd.Engine.Training.Data.Augment;
using Ssd.Engine.Training.Input;
using Ssd.Weights.Model;

namespace Ssd.Bench;

/// <summary>
/// The training data path per image on one core: each flavour's augmentation of a VOC-sized (500x375) image with
/// three objects, then its 300x300 network input; and the prefetch pipeline making 16 batches of 8 such images with
/// 1 or 2 workers (images/s per core = 128 / time / workers). Images are pre-decoded (decode has its own benchmark in
/// Ssd.Imaging's tests); rough on a loaded machine.
/// Run: dotnet run -c Release --project bench/Ssd.Bench -- --filter '*AugmentBenchmarks*'
/// </summary>
[Config(typeof(Config))]
public class AugmentBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance));
    }

    private static readonly InputSpec TorchvisionSpec = new()
    {
        Width = 300, Height = 300, ChannelOrder = ChannelOrder.Rgb, Mean = [0.485f, 0.456f, 0.406f], Std = [0.229f, 0.224f, 0.225f],
        PixelRange = PixelRange.Unit, Resize = ResizeMethod.TorchBilinear,
    };
    private static readonly InputSpec SsdPytorchSpec = new()
    {
        Width = 300, Height = 300, ChannelOrder = ChannelOrder.Rgb, Mean = [123f, 117f, 104f], Std = [1f, 1f, 1f], PixelRange = PixelRange.Byte, Resize = ResizeMethod.OpenCvLinear,
    };

    private RgbImage image = null!;
    private readonly LabelledBoxes objects = new([40, 30, 300, 250, 200, 100, 480, 360, 10, 200, 120, 370], [1, 2, 3]);
    private readonly float[] input = new float[3 * 300 * 300];
    private readonly IAugmentation torchvision = Augmentation.Create(ModelFlavor.Torchvision), ssdPytorch = Augmentation.Create(ModelFlavor.SsdPytorch);
    private long index;

    [Params(1, 2)]
    public int Workers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(5);
        var px = new byte[3 * 500 * 375];
        rng.NextBytes(px);
        image = new RgbImage(500, 375, px);
    }

    [Benchmark(Baseline = true)]
    public int Torchvision()
    {
        var a = torchvision.Apply(image, objects, 1, 0, index++);
        a.WriteInput(ModelFlavor.Torchvision, TorchvisionSpec, input);
        return a.Objects.Count;
    }

    [Benchmark]
    public int SsdPytorch()
    {
        var a = ssdPytorch.Apply(image, objects, 1, 0, index++);
        a.WriteInput(ModelFlavor.SsdPytorch, SsdPytorchSpec, input);
        return a.Objects.Count;
    }

    [Benchmark(OperationsPerInvoke = 128)]
    public int Pipeline16x8()
    {
        var sampler = new BatchSampler(64, 8, shuffle: true, seed: 2);
        using var pipeline = new PrefetchPipeline<int>(b =>
        {
            var output = new float[3 * 300 * 300];
            int n = 0;
            foreach (var (epoch, i) in sampler.Batch(b))
            {
                var a = torchvision.Apply(image, objects, 1, epoch, i);
                a.WriteInput(ModelFlavor.Torchvision, TorchvisionSpec, output);
                n += a.Objects.Count;
            }
            return n;
        }, Workers, prefetch: 4);
        int total = 0;
        for (int b = 0; b < 16; b++) total += pipeline.Next();
        return total;
    }
}
