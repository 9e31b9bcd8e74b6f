using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Ssd.Engine.PostProcessing;
using Ssd.Engine.PostProcessing.Reference;
using Ssd.Kernels.Detect;
using Ssd.Kernels.Priors;
using Ssd.Weights.Model;

namespace Ssd.Bench;

/// <summary>
/// Post-processing of one image in the dense case: the 8732 SSD300 priors (torchvision's anchor generator) and 91
/// classes (COCO with torchvision's background), synthetic logits. "Thousands": a background logit of 7 over N(0,1)
/// class logits, so about 0.6% of the prior x class scores (~4,600) pass 0.01; "Saturated": all logits N(0, 0.1),
/// like a randomly initialised head, so nearly every score (~1/91) passes and only the per-class top-k caps them.
/// Each flavour: the one PostProcessor with its rules, and its plain reference.
/// Run: dotnet run -c Release --project bench/Ssd.Bench -- --filter '*PostProcessBenchmarks*'
/// </summary>
[Config(typeof(Config))]
public class PostProcessBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance));
    }

    public enum Density { Thousands, Saturated }

    [Params(Density.Thousands, Density.Saturated)]
    public Density Case { get; set; }

    private const int Classes = 91;
    private float[] loc = null!, logits = null!, probs = null!;
    private readonly ImageSize[] sizes = [new(640, 480)];
    private IPostProcessor caffe = null!, caffeRef = null!, pytorch = null!, pytorchRef = null!, torchvision = null!, torchvisionRef = null!;

    [GlobalSetup]
    public void Setup()
    {
        var input = DensePostProcessInput.Create(Case == Density.Saturated, Classes, seed: 300);
        (loc, logits, probs) = (input.Loc, input.Logits, input.Probabilities);
        var caffeParams = new PostProcessParams(Classes, 0, 0.01f, 0.45f, 400, 200, ConfIsProbability: true);
        var pytorchParams = new PostProcessParams(Classes, 0, 0.01f, 0.45f, 200, 0, ConfIsProbability: false);
        var tv = new PostProcessParams(Classes, 0, 0.01f, 0.45f, 400, 200, ConfIsProbability: false);
        caffe = new PostProcessor(PostProcessRules.For(ModelFlavor.Caffe, caffeParams, null, 300, 300), input.CaffePriors);
        caffeRef = new CaffeDetectionOutputReference(input.CaffePriors, caffeParams);
        pytorch = new PostProcessor(PostProcessRules.For(ModelFlavor.SsdPytorch, pytorchParams, null, 300, 300), input.CenterPriors);
        pytorchRef = new SsdPytorchDetectReference(input.CenterPriors, pytorchParams);
        torchvision = new PostProcessor(PostProcessRules.For(ModelFlavor.Torchvision, tv, null, 300, 300), input.Anchors);
        torchvisionRef = new TorchvisionPostprocessReference(input.Anchors, new ImageSize(300, 300), tv);
    }

    [Benchmark] public int Caffe() => caffe.Run(loc, probs, sizes)[0].Count;
    [Benchmark] public int CaffeReference() => caffeRef.Run(loc, probs, sizes)[0].Count;
    [Benchmark] public int SsdPytorch() => pytorch.Run(loc, logits, sizes)[0].Count;
    [Benchmark] public int SsdPytorchReference() => pytorchRef.Run(loc, logits, sizes)[0].Count;
    [Benchmark(Baseline = true)] public int Torchvision() => torchvision.Run(loc, logits, sizes)[0].Count;
    [Benchmark] public int TorchvisionReference() => torchvisionRef.Run(loc, logits, sizes)[0].Count;
}

/// <summary>Synthetic dense head outputs over the torchvision SSD300 priors, in each flavour's prior layout.</summary>
public sealed record DensePostProcessInput(float[] Anchors, float[] CaffePriors, float[] CenterPriors, float[] Loc, float[] Logits, float[] Probabilities)
{
    public static DensePostProcessInput Create(bool saturated, int classes, int seed)
    {
        var grids = TorchvisionPriorConfig.Ssd300Grids.Select(g => (g, g)).ToArray();
        var anchors = PriorReference.Torchvision(TorchvisionPriorConfig.Ssd300, grids, 300, 300);
        int p = anchors.Length / 4;
        var caffe = new float[8 * p];
        var center = new float[4 * p];
        for (int i = 0; i < p; i++)
        {
            float x1 = anchors[4 * i] / 300f, y1 = anchors[4 * i + 1] / 300f, x2 = anchors[4 * i + 2] / 300f, y2 = anchors[4 * i + 3] / 300f;
            (caffe[4 * i], caffe[4 * i + 1], caffe[4 * i + 2], caffe[4 * i + 3]) = (x1, y1, x2, y2);
            (caffe[4 * p + 4 * i], caffe[4 * p + 4 * i + 1], caffe[4 * p + 4 * i + 2], caffe[4 * p + 4 * i + 3]) = (0.1f, 0.1f, 0.2f, 0.2f);
            (center[4 * i], center[4 * i + 1], center[4 * i + 2], center[4 * i + 3]) = ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1);
        }
        var rng = new Random(seed);
        float Normal() => MathF.Sqrt(-2f * MathF.Log(1f - rng.NextSingle())) * MathF.Cos(2f * MathF.PI * rng.NextSingle());
        var loc = new float[4 * p];
        for (int i = 0; i < loc.Length; i++) loc[i] = Normal();
        var logits = new float[p * classes];
        for (int i = 0; i < p; i++)
        for (int c = 0; c < classes; c++)
            logits[i * classes + c] = saturated ? 0.1f * Normal() : c == 0 ? 7f : Normal();
        var probs = new float[logits.Length];
        Ssd.Kernels.Softmax.SoftmaxReference.Rows(p, classes, logits, probs);
        return new DensePostProcessInput(anchors, caffe, center, loc, logits, probs);
    }
}
