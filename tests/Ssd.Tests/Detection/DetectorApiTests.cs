using Microsoft.Extensions.Logging;
using Ssd.Engine.Detection;
using Ssd.Engine.Imaging;
using Ssd.Engine.PostProcessing;
using Ssd.Engine.PostProcessing.Reference;
using Ssd.Imaging;
using Ssd.Kernels.Cpu;
using Ssd.Kernels.Detect;
using Ssd.Tests.Weights;
using Ssd.Weights;
using Ssd.Weights.Model;
using Ssd.Weights.Tensors;

namespace Ssd.Tests.Detection;

/// <summary>
/// The API people embed (issue 13): per-call options against the flavour's reference and against a detector built
/// with them, CPU threads and GPU index, DetectAsync and cancellation, logging, Load(Stream), every input overload,
/// concurrent callers.
/// </summary>
public class DetectorApiTests
{
    private static string ShapesModel => Path.Combine(WeightsPaths.RepoRoot, "examples", "shapes", "shapes_ssd.safetensors");

    private static (ModelDescription Model, IReadOnlyDictionary<string, TensorData> Tensors)? shapes;

    private static (ModelDescription Model, IReadOnlyDictionary<string, TensorData> Tensors) Shapes() => shapes ??= ModelFile.Load(ShapesModel);

    private static RgbImage[] ShapesPhotos() =>
        [.. new[] { "shapes_001.jpg", "shapes_002.jpg", "shapes_004.jpg", "shapes_005.jpg" }
            .Select(n => ImageDecoder.Load(Path.Combine(WeightsPaths.RepoRoot, "examples", "shapes", n)))];

    private static SsdDetector ShapesDetector(SsdDetectorOptions? options = null)
    {
        var (model, tensors) = Shapes();
        return SsdDetector.Create(model, tensors, (options ?? new SsdDetectorOptions()) with { Backend = DetectorBackend.Cpu });
    }

    // ------------------------------------------------------------------ per-call options

    /// <summary>
    /// A call's threshold and NMS IoU give the flavour's reference (ssd.pytorch Detect, PostProcessing/Reference) run
    /// with them; its class filter and cap then keep the asked classes' best detections, as a detector built with the
    /// same options does.
    /// </summary>
    [Test]
    public void PerCallOptionsGiveTheReferenceWithThoseParameters()
    {
        var f = PostProcessFixture.Load();
        var model = SsdDetectorTests.Model(f);
        using var detector = new SsdDetector(model, new SsdDetectorTests.FixtureNetwork(f), new SsdDetectorTests.IndexPreprocessor(), new SsdDetectorOptions { MaxBatch = 2 });
        var images = Enumerable.Range(0, f.Images).Select(i => SsdDetectorTests.Image(i, (f.Sizes[i].Width, f.Sizes[i].Height))).ToList();
        var call = new DetectOptions { ConfidenceThreshold = 0.2f, NmsThreshold = 0.3f, MaxDetections = 4, Classes = [3, 1] };

        var spec = model.PostProcess;
        var reference = new SsdPytorchDetectReference(f.CenterPriors,
            new PostProcessParams(spec.NumClasses, spec.BackgroundId, 0.2f, 0.3f, spec.TopK, 0, false)).Run(f.Loc, f.Logits, f.Sizes);
        var actual = detector.Detect(images, call);
        int compared = 0;
        for (int i = 0; i < f.Images; i++)
        {
            var expected = reference[i].Where(d => d.ClassId is 1 or 3).Take(4).ToList();
            Assert.That(actual[i].Select(d => (d.ClassId, d.Score, d.Box.X1, d.Box.Y1, d.Box.X2, d.Box.Y2)),
                Is.EqualTo(expected.Select(d => (d.ClassId, d.Score, d.X1, d.Y1, d.X2, d.Y2))), $"image {i}");
            compared += expected.Count;
        }
        Assert.That(compared, Is.GreaterThan(2), "the case has detections of the asked classes");
        Assert.That(reference.Sum(r => r.Count(d => d.ClassId is not (1 or 3))), Is.GreaterThan(0), "the filter removes something");

        // The detector's defaults are untouched by the call, and a detector built with the options agrees.
        Assert.That(detector.Detect(images), Is.EqualTo(new SsdDetector(model, new SsdDetectorTests.FixtureNetwork(f), new SsdDetectorTests.IndexPreprocessor()).Detect(images)));
        using var built = new SsdDetector(model, new SsdDetectorTests.FixtureNetwork(f), new SsdDetectorTests.IndexPreprocessor(),
            new SsdDetectorOptions { ConfidenceThreshold = 0.2f, NmsThreshold = 0.3f, MaxDetections = 4, Classes = [1, 3] });
        Assert.That(built.Detect(images), Is.EqualTo(actual));
    }

    /// <summary>
    /// The real engine (the shapes example, torchvision flavour, detections_per_img 200) on real photos: per-call
    /// options equal a second detector built with them; the class filter lifts the model's cap from the others'
    /// detections (the asked class keeps every detection it has in the uncapped result).
    /// </summary>
    [Test]
    public void PerCallOptionsEqualADetectorBuiltWithThem()
    {
        var photos = ShapesPhotos();
        using var detector = ShapesDetector();
        var baseline = detector.Detect(photos);
        Assert.That(baseline.Sum(d => d.Count), Is.GreaterThan(20), "the shapes model finds shapes at threshold 0.01");
        DetectOptions[] calls =
        [
            new() { ConfidenceThreshold = 0.5f },
            new() { NmsThreshold = 0.2f, MaxDetections = 3 },
            new() { ConfidenceThreshold = 0.05f, Classes = [2] },
            new() { ConfidenceThreshold = 0.3f, NmsThreshold = 0.6f, MaxDetections = 2, Classes = [1, 4] },
        ];
        foreach (var call in calls)
        {
            using var built = ShapesDetector(new SsdDetectorOptions
                { ConfidenceThreshold = call.ConfidenceThreshold, NmsThreshold = call.NmsThreshold, MaxDetections = call.MaxDetections, Classes = call.Classes });
            var expected = built.Detect(photos);
            var actual = detector.Detect(photos, call);
            Assert.That(actual, Is.EqualTo(expected), call.ToString());
            Assert.That(actual.SelectMany(d => d).All(d => call.Classes is null || call.Classes.Contains(d.ClassId)));
            Assert.That(actual.All(d => d.Count <= (call.MaxDetections ?? int.MaxValue)));
        }
        Assert.That(detector.Detect(photos), Is.EqualTo(baseline), "calls leave the detector's defaults alone");

        // Class 2 alone, with the model's cap of 200 set to 5 by a detector built so: the first 5 of class 2 in the
        // uncapped ranking, not what is left of class 2 among the first 5 of every class.
        using var uncapped = ShapesDetector(new SsdDetectorOptions { MaxDetections = 100_000 });
        var all = uncapped.Detect(photos, new DetectOptions { Classes = [1, 2, 3, 4] });
        var only2 = detector.Detect(photos, new DetectOptions { Classes = [2], MaxDetections = 5 });
        for (int i = 0; i < photos.Length; i++)
            Assert.That(only2[i], Is.EqualTo(all[i].Where(d => d.ClassId == 2).Take(5)), $"photo {i}");
    }

    [Test]
    public void PerCallOptionsAreChecked()
    {
        using var detector = ShapesDetector();
        var photo = ShapesPhotos()[0];
        foreach (var bad in new DetectOptions[]
                 {
                     new() { ConfidenceThreshold = 1.5f }, new() { ConfidenceThreshold = float.NaN }, new() { NmsThreshold = 0f },
                     new() { NmsThreshold = 1.01f }, new() { MaxDetections = 0 }, new() { Classes = [0] }, new() { Classes = [1, 5] },
                 })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => detector.Detect(photo, bad), bad.ToString());
            Assert.That(e!.Message, Does.Contain("detect options"));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => ShapesDetector(new SsdDetectorOptions { Classes = [7] }));
        Assert.That(detector.Detect(photo), Is.Not.Empty, "a rejected call leaves the detector working");
    }

    // ------------------------------------------------------------------ threads and GPU index

    /// <summary>CpuThreads bounds the SIMD backend's parallelism (the widest worker pool a call's ops used on the
    /// calling thread) without changing the detections.</summary>
    [Test]
    public void CpuThreadsBoundTheParallelismAndKeepTheDetections()
    {
        var photos = ShapesPhotos()[..2];
        IReadOnlyList<IReadOnlyList<Ssd.Engine.Detection.Detection>> Run(int? threads, out int peak)
        {
            using var detector = ShapesDetector(new SsdDetectorOptions { CpuThreads = threads });
            detector.Detect(photos); // builds the networks
            WorkerPool.PeakWorkers = 0;
            var result = detector.Detect(photos);
            peak = WorkerPool.PeakWorkers;
            return result;
        }
        var one = Run(1, out int peak1);
        var three = Run(3, out int peak3);
        Assert.That(peak1, Is.EqualTo(1));
        Assert.That(peak3, Is.EqualTo(3), "SSD300's large convolutions take every thread they are given");
        Assert.That(three, Is.EqualTo(one));
        Assert.Throws<ArgumentException>(() => ShapesDetector(new SsdDetectorOptions { CpuThreads = 0 }));
    }

    [Test]
    public void GpuIndexIsCheckedAndPicksTheDevice()
    {
        var (model, tensors) = Shapes();
        SsdDetector Make(DetectorBackend backend, int? index) => SsdDetector.Create(model, tensors, new SsdDetectorOptions { Backend = backend, GpuIndex = index });
        Assert.Throws<ArgumentException>(() => Make(DetectorBackend.Cuda, -1));
        Assert.That(Assert.Throws<ArgumentException>(() => Make(DetectorBackend.Cpu, 0))!.Message, Does.Contain("GPU index"));
        Assert.Throws<ArgumentException>(() => Make(DetectorBackend.CpuSim, 0));

        int cuda = Ssd.Kernels.Core.ComputeDevice.CudaDeviceCount();
        var missing = Assert.Throws<InvalidOperationException>(() => BackendFactory.Create(DetectorBackend.Cuda, deviceIndex: cuda))!;
        Assert.That(missing.Message, Does.Contain($"device {cuda} requested"));
        if (cuda == 0)
        {
            using var auto = BackendFactory.Create(DetectorBackend.Auto, deviceIndex: 0);
            Assert.That(auto.Device, Is.Null, "auto with a GPU index on a machine without CUDA takes the CPU backend");
        }
        else
        {
            using var last = BackendFactory.Create(DetectorBackend.Cuda, deviceIndex: cuda - 1);
            Assert.That(last.Description, Does.Contain("Cuda"));
        }
        // OpenCL (PoCL here): index 0 is the first device ILGPU lists, one past the last is an error naming the count.
        _ = TestDevices.OpenCL; // ignored (failed under SSD_REQUIRE_OPENCL=1) without an OpenCL device
        using (var first = BackendFactory.Create(DetectorBackend.OpenCL, deviceIndex: 0))
            Assert.That(first.Description, Does.Contain("OpenCL"));
        var none = Assert.Throws<InvalidOperationException>(() => BackendFactory.Create(DetectorBackend.OpenCL, deviceIndex: 64))!;
        Assert.That(none.Message, Does.Contain("opencl' device 64 requested").And.Contain("found"));
    }

    // ------------------------------------------------------------------ DetectAsync and cancellation

    /// <summary>A network that runs a callback before each forward pass (to cancel between batches).</summary>
    private sealed class HookedNetwork(ISsdNetwork inner, Action<int> beforeForward) : ISsdNetwork
    {
        private int calls;
        public float[] Priors => inner.Priors;
        public (float[] Loc, float[] Conf) Forward(float[] input, int batch)
        {
            beforeForward(calls++);
            return inner.Forward(input, batch);
        }
        public void Dispose() => inner.Dispose();
    }

    [Test]
    public async Task DetectAsyncGivesDetectAndCancelsBeforeAndBetweenBatches()
    {
        var f = PostProcessFixture.Load();
        var images = Enumerable.Range(0, f.Images).Select(i => SsdDetectorTests.Image(i, (f.Sizes[i].Width, f.Sizes[i].Height))).ToList();
        using var cts = new CancellationTokenSource();
        int forwards = 0;
        using var detector = new SsdDetector(SsdDetectorTests.Model(f), new HookedNetwork(new SsdDetectorTests.FixtureNetwork(f), _ => forwards++),
            new SsdDetectorTests.IndexPreprocessor(), new SsdDetectorOptions { MaxBatch = 1 });
        var expected = detector.Detect(images);
        Assert.That(await detector.DetectAsync(images), Is.EqualTo(expected));
        Assert.That(await detector.DetectAsync(images[1]), Is.EqualTo(expected[1]));

        // Cancelled before the call: nothing runs.
        forwards = 0;
        Assert.That(async () => await detector.DetectAsync(images, null, new CancellationToken(true)), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(forwards, Is.EqualTo(0));

        // Cancelled during the first batch: that batch finishes, the second never starts.
        forwards = 0;
        var hooked = new HookedNetwork(new SsdDetectorTests.FixtureNetwork(f), n => { forwards++; if (n == 0) cts.Cancel(); });
        using var cancelling = new SsdDetector(SsdDetectorTests.Model(f), hooked, new SsdDetectorTests.IndexPreprocessor(), new SsdDetectorOptions { MaxBatch = 1 });
        Assert.That(async () => await cancelling.DetectAsync(images, null, cts.Token), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(forwards, Is.EqualTo(1), "cancelled between the batches");
        // No corrupted state: the next calls give the uncancelled result.
        Assert.That(cancelling.Detect(images), Is.EqualTo(expected));
        Assert.That(await cancelling.DetectAsync(images, new DetectOptions { ConfidenceThreshold = 0.3f }),
            Is.EqualTo(detector.Detect(images, new DetectOptions { ConfidenceThreshold = 0.3f })));
    }

    [Test]
    public async Task DetectAsyncFromFilesAndStreamsMatchesDetect()
    {
        using var detector = ShapesDetector(new SsdDetectorOptions { ConfidenceThreshold = 0.3f });
        string path = Path.Combine(WeightsPaths.RepoRoot, "examples", "shapes", "shapes_002.jpg");
        var expected = detector.Detect(path);
        Assert.That(expected, Is.Not.Empty);
        Assert.That(await detector.DetectAsync(path), Is.EqualTo(expected));
        await using (var stream = File.OpenRead(path))
            Assert.That(await detector.DetectAsync(stream), Is.EqualTo(expected));
        var call = new DetectOptions { MaxDetections = 1 };
        Assert.That(await detector.DetectAsync(path, call), Is.EqualTo(expected.Take(1)));
        Assert.That(async () => await detector.DetectAsync(path, null, null, new CancellationToken(true)), Throws.InstanceOf<OperationCanceledException>());
    }

    // ------------------------------------------------------------------ logging

    private sealed class CapturingLogger : ILogger
    {
        public readonly List<(LogLevel Level, string Message)> Entries = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Entries) Entries.Add((logLevel, formatter(state, exception)));
        }
    }

    [Test]
    public void TheLoggerHearsTheModelTheDeviceEachNetworkAndEachCall()
    {
        var log = new CapturingLogger();
        using (var detector = SsdDetector.Load(ShapesModel, new SsdDetectorOptions { Backend = DetectorBackend.Cpu, Logger = log, MaxBatch = 2 }))
            detector.Detect(ShapesPhotos()[..3]);
        var messages = log.Entries.Select(e => $"{e.Level}: {e.Message}").ToList();
        TestContext.Out.WriteLine(string.Join("\n", messages));
        Assert.That(messages, Has.One.Match(@"^Information: Loaded model .* \(Torchvision, 300x300, 5 classes, \d+ tensors\) from .*shapes_ssd\.safetensors in [\d.]+ ms$"));
        Assert.That(messages, Has.One.Match(@"^Information: Detector .*: backend cpu chose cpu \(managed SIMD\)$"));
        // The CPU backend runs every batch image by image through one batch-1 network (its arena bounded at any batch).
        Assert.That(messages, Has.One.Match(@"^Debug: Built network .* 300x300 batch 1 on cpu \(managed SIMD\) in [\d.]+ ms$"));
        Assert.That(messages, Has.None.Match(@"^Debug: Built network .* batch 2 on"), "no batch-2 network on the CPU backend");
        Assert.That(messages, Has.One.Match(@"^Debug: Detect: 3 images in 2 batches on cpu \(managed SIMD\): preprocess [\d.]+ ms, network [\d.]+ ms, postprocess [\d.]+ ms$"));
    }

    // ------------------------------------------------------------------ Load(Stream)

    /// <summary>A stream that cannot seek (a network download, a pipe).</summary>
    private sealed class ForwardOnlyStream(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, 4096));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Test]
    public void LoadFromAStreamGivesTheSameDetectorAsTheFile()
    {
        var photos = ShapesPhotos()[..2];
        var options = new SsdDetectorOptions { Backend = DetectorBackend.Cpu };
        using var fromPath = SsdDetector.Load(ShapesModel, options);
        var expected = fromPath.Detect(photos);
        using (var stream = File.OpenRead(ShapesModel))
        using (var fromStream = SsdDetector.Load(stream, options))
            Assert.That(fromStream.Detect(photos), Is.EqualTo(expected));
        using (var forwardOnly = new ForwardOnlyStream(File.OpenRead(ShapesModel)))
        using (var fromPipe = SsdDetector.Load(forwardOnly, options))
            Assert.That(fromPipe.Detect(photos), Is.EqualTo(expected));
        // From the middle of a stream: its position to its end.
        var bytes = File.ReadAllBytes(ShapesModel);
        using var padded = new MemoryStream([.. new byte[13], .. bytes]) { Position = 13 };
        using (var fromMiddle = SsdDetector.Load(padded, options))
            Assert.That(fromMiddle.Detect(photos), Is.EqualTo(expected));
    }

    /// <summary>A bad stream gives the error a bad file gives (named as the caller names the stream).</summary>
    [Test]
    public void ABadStreamGivesTheSameErrorAsABadFile()
    {
        var good = File.ReadAllBytes(ShapesModel);
        var dir = Directory.CreateTempSubdirectory("ssd-api13-");
        try
        {
            var cases = new (string Name, byte[] Bytes)[]
            {
                ("truncated.safetensors", good[..(good.Length / 2)]),
                ("checkpoint.pth", [.. "PK\x03\x04"u8, .. new byte[64]]),
                ("legacy.pth", [0x80, 0x02, .. new byte[30]]),
                ("empty.safetensors", []),
                ("header.safetensors", [.. BitConverter.GetBytes(578712552184433488L), .. "{}"u8]),
                ("nometa.safetensors", [.. BitConverter.GetBytes(2L), .. "{}"u8]),
            };
            foreach (var (name, bytes) in cases)
            {
                string path = Path.Combine(dir.FullName, name);
                File.WriteAllBytes(path, bytes);
                var fileError = Assert.Throws<InvalidDataException>(() => SsdDetector.Load(path, new SsdDetectorOptions { Backend = DetectorBackend.Cpu }), name)!;
                using var stream = new MemoryStream(bytes);
                var streamError = Assert.Throws<InvalidDataException>(() => SsdDetector.Load(stream, new SsdDetectorOptions { Backend = DetectorBackend.Cpu }, name), name)!;
                // The file's messages name it by its path where the stream's name it as the caller does.
                Assert.That(streamError.Message, Is.EqualTo(fileError.Message.Replace(path, name)), name);
                TestContext.Out.WriteLine($"{name}: {streamError.Message}");
            }
            using var pth = new MemoryStream([.. "PK\x03\x04"u8, .. new byte[64]]);
            Assert.That(Assert.Throws<InvalidDataException>(() => SsdDetector.Load(pth))!.Message, Does.StartWith("stream is a PyTorch checkpoint").And.Contain("convert it first"));
        }
        finally { dir.Delete(recursive: true); }

        // A stream that cannot seek is copied to memory only up to its budget.
        using var pipe = new ForwardOnlyStream(new MemoryStream(good));
        Assert.Throws<ReaderBudgetException>(() => ModelFile.Load(pipe, "pipe", new ReaderBudgets { StreamBytes = 1000 }));
    }

    // ------------------------------------------------------------------ input overloads

    /// <summary>
    /// One photo through every way in: its path, a stream, its encoded bytes, and its pixels as raw RGB, BGR, RGBA
    /// and BGRA buffers, packed and with padded rows (noise in the padding and alpha); every call gives the
    /// detections of the decoded image (whose pixels ImageDecoderTests holds to cv2.imread's).
    /// </summary>
    [Test]
    public void EveryInputOverloadGivesTheSameDetections()
    {
        string path = Path.Combine(WeightsPaths.RepoRoot, "examples", "shapes", "shapes_005.jpg");
        using var detector = ShapesDetector(new SsdDetectorOptions { ConfidenceThreshold = 0.2f });
        var image = ImageDecoder.Load(path);
        var expected = detector.Detect(image);
        Assert.That(expected, Has.Count.GreaterThan(1), "the photo has detections to compare");

        Assert.That(detector.Detect(path), Is.EqualTo(expected), "Detect(string path)");
        using (var stream = File.OpenRead(path))
            Assert.That(detector.Detect(stream), Is.EqualTo(expected), "Detect(Stream)");
        using (var pipe = new ForwardOnlyStream(File.OpenRead(path)))
            Assert.That(detector.Detect(pipe), Is.EqualTo(expected), "Detect(Stream) that cannot seek");
        var encoded = File.ReadAllBytes(path);
        Assert.That(detector.Detect(encoded.AsSpan()), Is.EqualTo(expected), "Detect(ReadOnlySpan<byte> encoded)");

        var rng = new Random(13);
        int w = image.Width, h = image.Height;
        foreach (var layout in Enum.GetValues<PixelLayout>())
            foreach (int padding in new[] { 0, 5 })
            {
                int bpp = layout.BytesPerPixel(), stride = w * bpp + padding;
                var raw = new byte[stride * h];
                rng.NextBytes(raw);
                bool bgr = layout is PixelLayout.Bgr24 or PixelLayout.Bgra32;
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                    {
                        int s = 3 * (y * w + x), d = y * stride + x * bpp;
                        raw[d] = image.Pixels[s + (bgr ? 2 : 0)];
                        raw[d + 1] = image.Pixels[s + 1];
                        raw[d + 2] = image.Pixels[s + (bgr ? 0 : 2)];
                    }
                Assert.That(detector.Detect(raw, w, h, layout, padding == 0 ? 0 : stride), Is.EqualTo(expected), $"{layout}, stride {stride}");
                if (layout == PixelLayout.Bgr24 && padding == 0)
                    Assert.That(detector.Detect(raw, w, h, PixelLayout.Rgb24), Is.Not.EqualTo(expected), "the comparison sees the channel order");
            }
        var call = new DetectOptions { MaxDetections = 1 };
        Assert.That(detector.Detect(encoded.AsSpan(), call), Is.EqualTo(expected.Take(1)), "per-call options through the encoded overload");
    }

    // ------------------------------------------------------------------ concurrency

    /// <summary>
    /// Several threads, each with its own per-call options, on one CPU detector: every result equals the sequential
    /// one, and the detector made at most MaxConcurrency sets of networks.
    /// </summary>
    [Test]
    public void ConcurrentCallersGetTheSequentialResults()
    {
        var photos = ShapesPhotos();
        DetectOptions?[] calls = [null, new() { ConfidenceThreshold = 0.4f }, new() { MaxDetections = 2 }, new() { Classes = [1, 3], NmsThreshold = 0.3f }];
        using var detector = ShapesDetector(new SsdDetectorOptions { MaxConcurrency = 3, MaxBatch = 2, CpuThreads = 1 });
        var expected = calls.Select(c => detector.Detect(photos, c)).ToArray();
        Assert.That(detector.CachedNetworks, Is.EqualTo(1), "one caller, one set of networks (batch 2)");
        const int threads = 6, rounds = 3;
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        using var start = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            for (int r = 0; r < rounds; r++)
            {
                int c = (t + r) % calls.Length;
                var actual = detector.Detect(photos, calls[c]);
                for (int i = 0; i < photos.Length; i++)
                    if (!actual[i].SequenceEqual(expected[c][i])) failures.Add($"thread {t} round {r} call {c} photo {i}");
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        Assert.That(failures, Is.Empty);
        Assert.That(detector.CachedNetworks, Is.InRange(1, 3), "at most MaxConcurrency sets of networks");
    }

    /// <summary>On an ILGPU device (the CPU simulator here) concurrent callers take turns on one set of networks.</summary>
    [Test]
    public void ConcurrentCallersOnADeviceTakeTurns()
    {
        var (model, tensors) = Ssd.Tests.Engine.TinySsd.Create();
        var images = Enumerable.Range(0, 3).Select(i => Ssd.Tests.Engine.TinySsd.Image(24, 20, 300 + i)).ToArray();
        using var detector = SsdDetector.Create(model, tensors, new SsdDetectorOptions { Backend = DetectorBackend.CpuSim, MaxConcurrency = 4 });
        var expected = detector.Detect(images);
        var results = new IReadOnlyList<IReadOnlyList<Ssd.Engine.Detection.Detection>>[4];
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, t => results[t] = detector.Detect(images));
        foreach (var r in results) Assert.That(r, Is.EqualTo(expected));
        Assert.That(detector.CachedNetworks, Is.EqualTo(1));
    }

    [Test]
    public async Task DisposeWaitsForARunningCallAndLaterCallsThrow()
    {
        var f = PostProcessFixture.Load();
        var images = Enumerable.Range(0, f.Images).Select(i => SsdDetectorTests.Image(i, (f.Sizes[i].Width, f.Sizes[i].Height))).ToList();
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var inner = new SsdDetectorTests.FixtureNetwork(f);
        var detector = new SsdDetector(SsdDetectorTests.Model(f), new HookedNetwork(inner, _ => { entered.Set(); release.Wait(); }), new SsdDetectorTests.IndexPreprocessor());
        var running = detector.DetectAsync(images);
        entered.Wait();
        var disposing = Task.Run(detector.Dispose);
        Assert.That(disposing.Wait(100), Is.False, "Dispose must wait for the running call");
        Assert.That(inner.Disposed, Is.False, "the running call's network is still there");
        release.Set();
        var result = await running;
        await disposing;
        Assert.That(result.Sum(r => r.Count), Is.GreaterThan(0));
        Assert.That(inner.Disposed);
        Assert.Throws<ObjectDisposedException>(() => detector.Detect(images[0]));
        Assert.That(async () => await detector.DetectAsync(images[0]), Throws.InstanceOf<ObjectDisposedException>());
    }
}
