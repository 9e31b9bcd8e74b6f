using System.Runtime.InteropServices;
using Ssd.Engine.Backends.Cpu;
using Ssd.Engine.Detection;
using Ssd.Engine.Network;
using Ssd.Kernels.Cpu;
using Ssd.Tests.Weights;
using Ssd.Weights;
using Ssd.Weights.Model;

namespace Ssd.Tests.Detection;

/// <summary>
/// A batch on the CPU backend runs image by image through the batch-1 network (issue 14): every image's loc / conf
/// equal a single-image call bit for bit, at every ISA level, and the activations stay one batch-1 arena instead of
/// growing with the batch.
/// </summary>
public class CpuBatchTests
{
    private static string ShapesModel => Path.Combine(WeightsPaths.RepoRoot, "examples", "shapes", "shapes_ssd.safetensors");

    /// <summary>Inputs in the range a normalised photo takes, different per image.</summary>
    private static float[] Inputs(int images, int perImage, int seed)
    {
        var rng = new Random(seed);
        var x = new float[images * perImage];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 4 - 2);
        return x;
    }

    private static void AssertBitEqual(float[] expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), what);
        var e = MemoryMarshal.Cast<float, int>(expected);
        var a = MemoryMarshal.Cast<float, int>(actual);
        for (int i = 0; i < e.Length; i++)
            if (e[i] != a[i]) Assert.Fail($"{what}: float {i} is {actual[i]:R}, the single-image call gave {expected[i]:R}");
    }

    [Test]
    public void Batch64EqualsSingleImageCallsBitForBitWithABoundedArena()
    {
        var (model, tensors) = ModelFile.Load(ShapesModel);
        using var backend = new CpuBackend(new CpuOpOptions(Threads: 2));
        using var network = new EngineNetwork(model, tensors, backend);
        int per = model.Input.Channels * model.Input.Width * model.Input.Height;
        const int batch = 64;
        var input = Inputs(batch, per, seed: 14);

        var (loc, conf) = network.Forward(input, batch);
        long batchArena = network.ArenaBytes;
        int locPer = loc.Length / batch, confPer = conf.Length / batch;
        for (int i = 0; i < batch; i++)
        {
            var (l1, c1) = network.Forward(input[(i * per)..((i + 1) * per)], 1);
            AssertBitEqual(l1, loc.AsSpan(i * locPer, locPer), $"image {i} loc");
            AssertBitEqual(c1, conf.AsSpan(i * confPer, confPer), $"image {i} conf");
        }

        long single = SsdNetwork.PlannedArenaBytes(model, tensors, batch: 1);
        long planned64 = SsdNetwork.PlannedArenaBytes(model, tensors, batch: batch);
        // The stated bound: one batch-1 arena, whatever the batch; a batch-64 plan needs about 64x.
        Assert.That(batchArena, Is.EqualTo(single), "the batch ran in the batch-1 arena");
        Assert.That(planned64, Is.GreaterThan(30 * single), "a batch-64 plan's arena grows with the batch");
        Assert.That(network.ArenaBytes, Is.EqualTo(single), "the single calls share it");
    }

    /// <summary>Each ISA level, forced, and one thread against two: a batch gives the single-image results.</summary>
    [Test]
    public void BatchMatchesSingleImageCallsAtEveryIsaLevel()
    {
        var (model, tensors) = ModelFile.Load(ShapesModel);
        int per = model.Input.Channels * model.Input.Width * model.Input.Height;
        const int batch = 3;
        var input = Inputs(batch, per, seed: 3);
        foreach (var isa in Enum.GetValues<CpuIsa>().Where(CpuIsaSupport.IsSupported))
        {
            using var backend = new CpuBackend(new CpuOpOptions(isa, Threads: 2));
            using var oneThread = new CpuBackend(new CpuOpOptions(isa, Threads: 1));
            using var network = new EngineNetwork(model, tensors, backend);
            using var serial = new EngineNetwork(model, tensors, oneThread);
            var (loc, conf) = network.Forward(input, batch);
            int locPer = loc.Length / batch, confPer = conf.Length / batch;
            for (int i = 0; i < batch; i++)
            {
                var (l1, c1) = serial.Forward(input[(i * per)..((i + 1) * per)], 1);
                AssertBitEqual(l1, loc.AsSpan(i * locPer, locPer), $"{isa} image {i} loc");
                AssertBitEqual(c1, conf.AsSpan(i * confPer, confPer), $"{isa} image {i} conf");
            }
        }
    }

    /// <summary>Through the detector: a batch of 64 photos gives each photo's single-call detections, and the
    /// detector's arenas (what `ssd bench` reports) stay one batch-1 arena.</summary>
    [Test]
    public void DetectorBatchKeepsTheDetectionsAndTheArenaBound()
    {
        var (model, tensors) = ModelFile.Load(ShapesModel);
        var photos = new[] { "shapes_001.jpg", "shapes_002.jpg", "shapes_004.jpg", "shapes_005.jpg" }
            .Select(n => Ssd.Imaging.ImageDecoder.Load(Path.Combine(WeightsPaths.RepoRoot, "examples", "shapes", n))).ToArray();
        var images = Enumerable.Range(0, 64).Select(i => photos[i % photos.Length]).ToList();
        using var batched = SsdDetector.Create(model, tensors, new SsdDetectorOptions { Backend = DetectorBackend.Cpu, MaxBatch = 64, CpuThreads = 2 });
        using var single = SsdDetector.Create(model, tensors, new SsdDetectorOptions { Backend = DetectorBackend.Cpu, MaxBatch = 1, CpuThreads = 2 });
        var all = batched.Detect(images);
        var expected = photos.Select(p => single.Detect(p)).ToArray();
        for (int i = 0; i < images.Count; i++)
            Assert.That(all[i], Is.EqualTo(expected[i % photos.Length]), $"image {i}");
        long one = SsdNetwork.PlannedArenaBytes(model, tensors, batch: 1);
        Assert.That(batched.ArenaBytes, Is.EqualTo(one), "a batch of 64 in the batch-1 arena");
        Assert.That(single.ArenaBytes, Is.EqualTo(one));
    }
}
