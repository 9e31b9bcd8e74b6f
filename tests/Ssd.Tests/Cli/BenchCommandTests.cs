using System.Text.Json;
using Ssd.Kernels.Core;
using Ssd.Kernels.Ptx;
using Ssd.Kernels.Roofline;
using Ssd.Tests.Fixtures;

namespace Ssd.Tests.Cli;

public class BenchCommandTests
{
    [Test]
    public void BenchReportsStagesThatAddUpToTheLatency()
    {
        var model = Path.GetFullPath(Path.Combine(FixtureFiles.Path("."), "..", "..", "..", "examples", "shapes", "shapes_ssd.safetensors"));
        var stdout = Console.Out;
        var captured = new StringWriter();
        Console.SetOut(captured);
        int rc;
        try { rc = Ssd.Cli.Program.Main(["bench", "--model", model, "--backend", "cpu", "--iterations", "2", "--warmup", "0", "--batch", "2", "--json"]); }
        finally { Console.SetOut(stdout); }

        Assert.That(rc, Is.EqualTo(0), captured.ToString());
        using var json = JsonDocument.Parse(captured.ToString());
        var r = json.RootElement;
        double pre = r.GetProperty("preprocess_ms").GetDouble(), net = r.GetProperty("network_ms").GetDouble(), post = r.GetProperty("postprocess_ms").GetDouble();
        double latency = r.GetProperty("latency_ms").GetDouble();
        Assert.That(r.GetProperty("batch").GetInt32(), Is.EqualTo(2));
        Assert.That(new[] { pre, net, post }, Is.All.GreaterThan(0));
        // Medians of the parts need not sum exactly to the median whole, but they cannot exceed it by much.
        Assert.That(pre + net + post, Is.LessThanOrEqualTo(latency * 1.5));
        Assert.That(r.GetProperty("images_per_second").GetDouble(), Is.EqualTo(2000 / latency).Within(1e-6));
        Assert.That(r.GetProperty("arena_bytes").GetInt64(), Is.GreaterThan(0));
        Assert.That(r.GetProperty("peak_working_set_bytes").GetInt64(), Is.GreaterThan(r.GetProperty("arena_bytes").GetInt64()));
    }

    [Test]
    public void BenchLayersReportsEachStepAgainstTheGivenPeak()
    {
        var model = Path.GetFullPath(Path.Combine(FixtureFiles.Path("."), "..", "..", "..", "examples", "shapes", "shapes_ssd.safetensors"));
        var stdout = Console.Out;
        var captured = new StringWriter();
        Console.SetOut(captured);
        int rc;
        try { rc = Ssd.Cli.Program.Main(["bench", "--model", model, "--backend", "cpu", "--iterations", "2", "--warmup", "0", "--layers", "--peak", "50", "--json"]); }
        finally { Console.SetOut(stdout); }

        Assert.That(rc, Is.EqualTo(0), captured.ToString());
        using var json = JsonDocument.Parse(captured.ToString());
        var r = json.RootElement;
        var layers = r.GetProperty("layers").EnumerateArray().ToList();
        Assert.That(layers, Is.Not.Empty);
        Assert.That(layers.Select(l => l.GetProperty("op").GetString()), Has.Some.StartsWith("Conv"));
        Assert.That(layers.Sum(l => l.GetProperty("gflop").GetDouble()), Is.EqualTo(r.GetProperty("gflop").GetDouble()).Within(1e-9));
        Assert.That(layers.Sum(l => l.GetProperty("ms").GetDouble()), Is.EqualTo(r.GetProperty("layers_ms").GetDouble()).Within(1e-9));
        foreach (var l in layers)
        {
            double gflops = l.GetProperty("gflops").GetDouble(), ms = l.GetProperty("ms").GetDouble(), gflop = l.GetProperty("gflop").GetDouble();
            if (ms > 0) Assert.That(gflops, Is.EqualTo(gflop / ms * 1000).Within(1e-6 * Math.Max(1, gflops)));
            Assert.That(l.GetProperty("percent_of_peak").GetDouble(), Is.EqualTo(gflops * 2).Within(1e-9), "percent of a 50 GFLOP/s peak");
        }
        Assert.That(r.GetProperty("peak_source").GetString(), Is.EqualTo("given"));
    }

    [Test]
    public void BenchRejectsANonPositivePeak()
    {
        var stderr = Console.Error;
        Console.SetError(new StringWriter());
        try { Assert.That(Ssd.Cli.Program.Main(["bench", "--model", "nonexistent.safetensors", "--layers", "--peak", "0"]), Is.EqualTo(2), "usage"); }
        finally { Console.SetError(stderr); }
    }

    [Test]
    public void BenchRejectsAZeroBatch()
    {
        var stderr = Console.Error;
        Console.SetError(new StringWriter());
        try { Assert.That(Ssd.Cli.Program.Main(["bench", "--model", "nonexistent.safetensors", "--batch", "0"]), Is.EqualTo(2), "usage"); }
        finally { Console.SetError(stderr); }
    }

    private static string Docs(string name) => Path.Combine(CliRunner.Root, "docs", "kernels", name);

    private static IReadOnlyDictionary<string, KernelResources> CommittedResources() =>
        PtxReport.ParseResources(File.ReadAllText(Docs("ptx-report.md")), GpuArch.Sm90);

    /// <summary>
    /// `ssd bench --arch` builds SSD300 from the vocabulary with seeded weights (no checkpoint), times each batch size
    /// and writes each beside the roofline generator's prediction for it (from the committed PTX report's sm_90 rows).
    /// </summary>
    [Test]
    public void BenchArchTimesEachBatchBesideThePrediction()
    {
        var results = Path.Combine(Path.GetTempPath(), $"ssd-bench-arch-{Environment.ProcessId}.md");
        try
        {
            var r = CliRunner.Run("bench", "--arch", "ssd300-vgg16", "--backend", "cpu", "--width-divisor", "16", "--batches", "1,2",
                "--iterations", "1", "--warmup", "0", "--results", results);
            Assert.That(r.Code, Is.EqualTo(0), r.ToString());
            var text = File.ReadAllText(results);
            Assert.That(text, Does.Contain("seeded weights").And.Contain("channels divided by 16").And.Contain("CPU family"));
            var rows = text.Split('\n').Where(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\| \d")).Select(l => l.Trim('|').Split('|').Select(c => c.Trim()).ToArray()).ToList();
            Assert.That(rows.Select(c => c[0]), Is.EqualTo(new[] { "1", "2" }), "one row per batch size");
            var resources = CommittedResources();
            foreach (var cells in rows)
            {
                int batch = int.Parse(cells[0], System.Globalization.CultureInfo.InvariantCulture);
                var expected = GpuRooflineReport.Predict(batch, tf32: false, graph: false, GpuSpec.H100, resources);
                Assert.That(cells[6], Is.EqualTo(expected.ImagesPerSecond.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)), $"batch {batch}: predicted img/s");
                double measured = double.Parse(cells[1], System.Globalization.CultureInfo.InvariantCulture), latency = double.Parse(cells[2], System.Globalization.CultureInfo.InvariantCulture);
                Assert.That(measured, Is.EqualTo(batch * 1000 / latency).Within(0.06 + 1e-3 * measured), $"batch {batch}: img/s is the batch over the latency");
            }
        }
        finally { File.Delete(results); }
    }

    [Test]
    public void BenchArchSsd512IsPredictedTooAndModelAndArchExcludeEachOther()
    {
        var r = CliRunner.Run("bench", "--arch", "ssd512-vgg16", "--backend", "cpu", "--width-divisor", "32", "--batches", "1", "--iterations", "1", "--warmup", "0");
        Assert.That(r.Code, Is.EqualTo(0), r.ToString());
        var predicted = GpuRooflineReport.Predict(1, tf32: false, graph: false, GpuSpec.H100, CommittedResources(), size: 512).ImagesPerSecond;
        Assert.That(r.Out, Does.Contain("GpuRooflineReport.Predict for NVIDIA H100").And.Contain($"predicted {predicted.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)} img/s"));
        Assert.That(predicted, Is.LessThan(GpuRooflineReport.Predict(1, false, false, GpuSpec.H100, CommittedResources()).ImagesPerSecond), "SSD512 is slower than SSD300");
        Assert.That(CliRunner.Run("bench", "--arch", "ssd300-vgg16", "--model", CliRunner.ShapesModel).AssertCleanErrors().Code, Is.EqualTo(2));
        Assert.That(CliRunner.Run("bench", "--arch", "ssd300-vgg16", "--batches", "1,0").AssertCleanErrors().Code, Is.EqualTo(2));
        Assert.That(CliRunner.Run("bench", "--arch", "vgg").AssertCleanErrors().Code, Is.EqualTo(2));
        Assert.That(CliRunner.Run("bench").AssertCleanErrors().Code, Is.EqualTo(2), "neither --model nor --arch");
    }

    /// <summary>The roofline's workload is the network the engine runs: its convolutions (input shape, output channels,
    /// kernel, stride, padding, dilation) are the plan's for the VGG SSD that `ssd bench --arch` builds, SSD300 and SSD512.</summary>
    [TestCase(300)]
    [TestCase(512)]
    public void RooflineWorkloadConvolutionsAreThePlans(int size)
    {
        var model = Ssd.Cli.Commands.BenchArchitecture.Build(size, widthDivisor: 1, seed: 1);
        var plan = Ssd.Engine.Graph.PlanBuilder.Build(model.Description, model.Tensors, size, size);
        static string Key(TensorShape s, int outC, Ssd.Kernels.Conv.Conv2dParams p) =>
            $"{s.C}x{s.H}x{s.W} -> {outC} k{p.KernelH}x{p.KernelW} s{p.StrideH} p{p.PadH} d{p.DilationH} g{p.Groups}";
        var fromPlan = plan.Steps.OfType<Ssd.Engine.Graph.ConvStep>().Select(c => Key(c.InShape, c.OutChannels, c.Params)).Order().ToList();
        var fromWorkload = Ssd300Workload.Steps(1, size).Where(s => s.Conv is not null).Select(s => Key(s.Conv!.Value.Input, s.Conv.Value.OutC, s.Conv.Value.P)).Order().ToList();
        Assert.That(fromWorkload, Is.EqualTo(fromPlan));
        Assert.That(fromPlan, Has.Count.EqualTo(size == 512 ? 25 + 14 : 23 + 12), "VGG, extras and heads");
    }

    /// <summary>The committed PTX report reads back: its sm_90 convolution rows are the figures the CUDA conv rule
    /// uses (which PtxAssemblyTests checks against ptxas), and the committed roofline document is what the generator
    /// writes from it (so `ssd bench --arch` predicts what docs/kernels/gpu-roofline.md says).</summary>
    [Test]
    public void CommittedPtxReportGivesTheCommittedRoofline()
    {
        var resources = CommittedResources();
        foreach (var (name, expected) in Ssd.Kernels.Conv.Conv2dCosts.Resources)
            Assert.That(resources[name], Is.EqualTo(expected), name);
        var report = File.ReadAllText(Docs("ptx-report.md"));
        var version = System.Text.RegularExpressions.Regex.Match(report, @"assembled by ptxas \((.+?)\) with").Groups[1].Value;
        Assert.That(version, Does.Contain("release"), "the report names its ptxas");
        Assert.That(GpuRooflineReport.Markdown(resources, GpuSpec.H100, version), Is.EqualTo(File.ReadAllText(Docs("gpu-roofline.md"))),
            "docs/kernels/gpu-roofline.md is stale: regenerate it with ./ssd ptx --out DIR --report docs/kernels/ptx-report.md --roofline docs/kernels/gpu-roofline.md");
        Assert.Throws<InvalidDataException>(() => PtxReport.ParseResources("# not a report\n| a | b |\n", GpuArch.Sm90));
    }
}
