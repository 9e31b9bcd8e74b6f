using Ssd.Engine.Backends.Cpu;
using Ssd.Kernels.Cpu;
using Ssd.Engine.Graph;
using Ssd.Engine.Network;
using Ssd.Tests.Fixtures;
using Ssd.Weights.Model;

namespace Ssd.Tests.Engine;

/// <summary>SsdNetwork's opt-in per-layer profiler on the example shapes model (a small real SSD) on the CPU backend.</summary>
public class NetworkProfilingTests
{
    private static string ShapesModel() =>
        Path.GetFullPath(Path.Combine(FixtureFiles.Path("."), "..", "..", "..", "examples", "shapes", "shapes_ssd.safetensors"));

    [Test]
    public void ProfilingTimesEveryStepWithoutChangingTheOutputs()
    {
        var (model, tensors) = ModelFile.Load(ShapesModel());
        using var backend = new CpuBackend();
        using var net = SsdNetwork.Load(model, tensors, backend);
        var x = TestData.Uniform(3, (int)net.Plan.Input.Count, -1f, 1f);
        var plain = net.Forward(x);
        Assert.That(net.Profiling, Is.False);
        Assert.That(net.LayerTimings.All(t => t.Runs == 0 && t.Total == TimeSpan.Zero), "nothing is timed unless asked");

        net.Profiling = true;
        var first = net.Forward(x);
        var second = net.Forward(x);
        Assert.That(first.Loc, Is.EqualTo(plain.Loc));
        Assert.That(second.Conf, Is.EqualTo(plain.Conf));
        var timings = net.LayerTimings;
        Assert.That(timings.Select(t => t.Step), Is.EqualTo(net.Plan.Steps), "one timing per plan step, in plan order");
        Assert.That(timings.All(t => t.Runs == 2 && t.Total >= TimeSpan.Zero));
        Assert.That(timings.Sum(t => t.Total.Ticks), Is.GreaterThan(0));

        net.Profiling = true; // setting it again starts over
        Assert.That(net.LayerTimings.All(t => t.Runs == 0 && t.Total == TimeSpan.Zero));
    }

    [Test]
    public void ConvFlopsAreTwoPerMultiplyAddOfTheDirectConvolution()
    {
        var (model, tensors) = ModelFile.Load(ShapesModel());
        using var backend = new CpuBackend();
        using var net = SsdNetwork.Load(model, tensors, backend, batch: 2);
        var convs = net.Plan.Steps.OfType<ConvStep>().ToList();
        Assert.That(convs, Is.Not.Empty);
        foreach (var c in convs)
        {
            // Every weight multiplies one input value for every output pixel of its output channel, in every image.
            long pixels = (long)c.Output.Shape[0] * c.Output.Shape[2] * c.Output.Shape[3];
            Assert.That(LayerTiming.FlopsOf(c), Is.EqualTo(2.0 * c.Weight.Length * pixels), c.Layer);
        }
        Assert.That(net.Plan.Steps.Where(s => s is not ConvStep).Select(LayerTiming.FlopsOf), Is.All.EqualTo(0.0));
        Assert.That(net.ArenaBytes, Is.EqualTo(SsdNetwork.PlannedArenaBytes(model, tensors, batch: 2)));
        Assert.That(net.ArenaBytes, Is.GreaterThanOrEqualTo(4 * net.Plan.Input.Count), "the arena holds at least the input");
    }
}
