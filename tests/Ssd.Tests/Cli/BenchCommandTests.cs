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
    }

    [Test]
    public void BenchRejectsAZeroBatch()
    {
        var stderr = Console.Error;
        Console.SetError(new StringWriter());
        try { Assert.That(Ssd.Cli.Program.Main(["bench", "--model", "nonexistent.safetensors", "--batch", "0"]), Is.EqualTo(1)); }
        finally { Console.SetError(stderr); }
    }
}
