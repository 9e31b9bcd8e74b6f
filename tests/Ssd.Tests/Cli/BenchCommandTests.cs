using System.Text.Json;
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
}
