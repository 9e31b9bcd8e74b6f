using System.Text.Json;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Ssd.Engine.Training.Loss;
using Ssd.Engine.Training.Optim;
using Ssd.Kernels.Priors;
using Ssd.Weights.Model;

namespace Ssd.Bench;

/// <summary>
/// The host-side parts of an SSD300 training step against PyTorch 1.13 in one BenchmarkDotNet run, 2 threads each:
/// the MultiBox loss with its gradients at batch 8 (matching, mining, smooth L1 and cross-entropy, forward and
/// backward; torchvision's SSD.compute_loss and ssd.pytorch's MultiBoxLoss as the peers, Caffe's ours only) and one
/// optimizer step (SGD momentum 0.9 + weight decay, AdamW) over the 35.6 M parameters of torchvision's ssd300_vgg16.
/// The PyTorch rows run in tools/bench/torch_training_parts.py and include its IPC round trip ("ping").
/// Run: dotnet run -c Release --project bench/Ssd.Bench -- --filter '*TrainingParts*'.
/// </summary>
[Config(typeof(Config))]
public class TrainingPartsBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithStrategy(RunStrategy.Monitoring)
                .WithWarmupCount(1).WithIterationCount(7).WithLaunchCount(1).WithInvocationCount(1).WithUnrollFactor(1));
            AddColumn(BenchmarkDotNet.Columns.StatisticColumn.Min);
            HideColumns(BenchmarkDotNet.Columns.Column.Method, BenchmarkDotNet.Columns.Column.Error);
            WithSummaryStyle(SummaryStyle.Default.WithTimeUnit(Perfolizer.Horology.TimeUnit.Millisecond));
        }
    }

    public const int Batch = 8;

    public static IEnumerable<string> Cases =>
    [
        "loss-tv ours", "loss-tv pytorch", "loss-sp ours", "loss-sp pytorch", "loss-caffe ours",
        "sgd ours", "sgd pytorch", "adamw ours", "adamw pytorch", "ping pytorch",
    ];

    [ParamsSource(nameof(Cases))]
    public string Case { get; set; } = null!;

    private Action run = null!;
    private IPeerRunner? torch;

    [GlobalSetup]
    public void Setup()
    {
        var (part, peer) = (Case.Split(' ')[0], Case.Split(' ')[1]);
        if (peer == "pytorch")
        {
            torch = new TorchRunner("torch_training_parts.py", part.StartsWith("loss", StringComparison.Ordinal) ? $"{part} {Batch}" : part);
            Console.WriteLine($"// {Case}: {torch.Describe()}");
            run = torch.Run;
            return;
        }
        run = part switch
        {
            "loss-tv" => Loss(ModelFlavor.Torchvision, 91),
            "loss-sp" => Loss(ModelFlavor.SsdPytorch, 21),
            "loss-caffe" => Loss(ModelFlavor.Caffe, 21),
            "sgd" => Step(groups => new Sgd(groups, momentum: 0.9), 1e-3, 5e-4),
            "adamw" => Step(groups => new AdamW(groups), 1e-3, 1e-2),
            _ => throw new ArgumentException(Case),
        };
    }

    [Benchmark]
    public void Run() => run();

    [GlobalCleanup]
    public void Cleanup() => torch?.Dispose();

    /// <summary>Image i's objects: the formula of torch_training_parts.py's objects().</summary>
    public static GroundTruth Objects(int i, float scale, int classes)
    {
        var boxes = new List<float>();
        var labels = new List<int>();
        for (int k = 0; k < 6; k++)
        {
            double x = 0.05 + 0.15 * k, y = 0.1 + 0.12 * ((k + i) % 5);
            double w = 0.1 + 0.05 * ((k + 2 * i) % 4), h = 0.12 + 0.04 * ((3 * k + i) % 5);
            boxes.AddRange([(float)(x * scale), (float)(y * scale), (float)(Math.Min(x + w, 1.0) * scale), (float)(Math.Min(y + h, 1.0) * scale)]);
            labels.Add(1 + (k * 7 + i) % (classes - 1));
        }
        return new GroundTruth([.. boxes], [.. labels]);
    }

    private static Action Loss(ModelFlavor flavor, int classes)
    {
        var grids = TorchvisionPriorConfig.Ssd300Grids.Select(s => (s, s)).ToArray();
        float[] priors = flavor switch
        {
            ModelFlavor.Torchvision => PriorReference.Torchvision(TorchvisionPriorConfig.Ssd300, grids, 300, 300),
            ModelFlavor.SsdPytorch => PriorReference.SsdPytorch(SsdPytorchPriorConfig.Ssd300Voc),
            _ => PriorReference.Caffe(CaffePriorConfig.Ssd300Voc),
        };
        var loss = MultiBoxLoss.Create(flavor, priors, classes);
        int p = loss.NumPriors;
        var rng = new Random(1);
        var loc = new float[Batch * p * 4];
        var conf = new float[Batch * p * classes];
        for (int i = 0; i < loc.Length; i++) loc[i] = (float)Gaussian(rng);
        for (int i = 0; i < conf.Length; i++) conf[i] = 2 * (float)Gaussian(rng);
        var truths = Enumerable.Range(0, Batch).Select(i => Objects(i, flavor == ModelFlavor.Torchvision ? 300f : 1f, classes)).ToArray();
        var gl = new float[loc.Length];
        var gc = new float[conf.Length];
        return () => loss.Compute(loc, conf, truths, gl, gc);
    }

    private static double Gaussian(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    /// <summary>One optimizer step over torchvision ssd300_vgg16's parameter shapes (from the committed init fixture).</summary>
    private static Action Step(Func<ParameterGroup[], Optimizer> make, double lr, double wd)
    {
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(PeerFiles.Root, "tests", "Ssd.Tests", "Fixtures", "training", "init.json")));
        var rng = new Random(2);
        var ps = json.RootElement.GetProperty("torchvision_params").EnumerateArray().Select(e =>
        {
            var shape = e.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray();
            int n = shape.Aggregate(1, (a, d) => a * d);
            var grad = new float[n];
            for (int i = 0; i < n; i++) grad[i] = 1e-3f * (rng.NextSingle() - 0.5f);
            return new Parameter(e.GetProperty("name").GetString()!, shape, new float[n], grad);
        }).ToArray();
        var opt = make(ParameterGroup.Single(ps, lr, wd));
        return opt.Step;
    }
}
