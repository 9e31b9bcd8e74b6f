using Ssd.Engine.Backends.Cpu;
using Ssd.Engine.Backends.Ilgpu;
using Ssd.Engine.Detection;
using Ssd.Engine.Imaging;
using Ssd.Engine.Network;
using static Ssd.Tests.Engine.NetworkFixtures;

namespace Ssd.Tests.Detection;

/// <summary>
/// The whole SSD300 detector on a device against the managed CPU backend, with nothing but the repository (no fixture,
/// no checkpoint: it is what tools/gpu-check.sh proves on a bare GPU machine): SSD300-VGG16 in Caffe's VOC layout from
/// the vocabulary with seeded weights (what `ssd bench --arch` runs: <see cref="Ssd.Cli.Commands.BenchArchitecture.Build"/>), full width on CUDA and
/// channels divided by 16 on PoCL, a batch of two synthetic images. The device's heads match the CPU backend's within
/// 1e-4 relative (the float sums run in another order: tiles, Winograd, SIMD), and the device post-processing on those
/// heads gives the host post-processing's detections (<see cref="DeviceHostDifference"/>: bit-identical, or on CUDA the
/// FMA-contraction difference measured).
/// </summary>
public class DetectorOnDeviceTests
{
    [TestCaseSource(typeof(TestDevices), nameof(TestDevices.DeviceNames))]
    public void Ssd300OnTheDeviceMatchesTheCpuBackend(string deviceName)
    {
        var device = TestDevices.Device(deviceName);
        int divisor = deviceName == "cuda" ? 1 : 16;
        var (model, tensors, _, _) = Ssd.Cli.Commands.BenchArchitecture.Build(300, divisor, seed: 15);
        RgbImage[] images = [Ssd.Cli.Commands.BenchCommand.Synthetic(640, 480, 1), Ssd.Cli.Commands.BenchCommand.Synthetic(500, 375, 2)];
        string label = $"SSD300{(divisor > 1 ? $" (channels / {divisor})" : "")}", what = $"{label} on {deviceName}";

        // The network: the same pre-processed input through the CPU backend and the device.
        var host = new HostPreprocessor(model.Input);
        int per = model.Input.Width * model.Input.Height * 3;
        var input = new float[images.Length * per];
        for (int i = 0; i < images.Length; i++) host.Run(images[i], input.AsSpan(i * per, per));
        SsdOutput expected, actual;
        using (var cpu = new CpuBackend())
        using (var network = SsdNetwork.Load(model, tensors, cpu, batch: images.Length))
            expected = network.Forward(input);
        using (var backend = new IlgpuBackend(device))
        using (var network = SsdNetwork.Load(model, tensors, backend, batch: images.Length))
            actual = network.Forward(input);
        AssertRelative($"{what} against the CPU backend: loc", actual.Loc, expected.Loc);
        AssertRelative($"{what} against the CPU backend: conf", actual.Conf, expected.Conf);

        // The detector: post-processing on the device against the host post-processor on the same device heads.
        IReadOnlyList<IReadOnlyList<Ssd.Engine.Detection.Detection>> Detect(bool onDevice)
        {
            var options = new SsdDetectorOptions { PostProcessOnDevice = onDevice, MaxBatch = images.Length };
            using var detector = SsdDetector.Create(model, tensors, options, () => new IlgpuBackend(device));
            var result = detector.Detect(images);
            Assert.That(detector.LastPostProcessedOnDevice, Is.EqualTo(onDevice), "where the post-processing ran");
            return result;
        }
        var fromHost = Detect(false);
        Assert.That(fromHost, Has.All.Count.EqualTo(model.PostProcess.KeepTopK), "random weights: every image fills keep_top_k");
        DeviceHostDifference.AssertSame($"{label} detector, batch {images.Length}", deviceName, fromHost, Detect(true));
    }

    /// <summary>
    /// DetectAsync from several thread-pool threads at once on a device (issue 13): every call runs on a thread other
    /// than the one that made the device, so on CUDA it needs the device's context bound to that thread (the
    /// detector binds it per call); each result equals the synchronous Detect of the same image. SSD300 with channels
    /// divided by 16, one image per batch.
    /// </summary>
    [TestCaseSource(typeof(TestDevices), nameof(TestDevices.DeviceNames))]
    public async Task DetectAsyncOnThreadPoolThreadsMatchesDetect(string deviceName)
    {
        var device = TestDevices.Device(deviceName);
        var (model, tensors, _, _) = Ssd.Cli.Commands.BenchArchitecture.Build(300, 16, seed: 15);
        RgbImage[] images = [Ssd.Cli.Commands.BenchCommand.Synthetic(640, 480, 1), Ssd.Cli.Commands.BenchCommand.Synthetic(500, 375, 2)];
        using var detector = SsdDetector.Create(model, tensors, new SsdDetectorOptions { MaxBatch = 1 }, () => new IlgpuBackend(device));
        var expected = detector.Detect(images);
        Assert.That(expected, Has.All.Not.Empty, "random weights: every image has detections");

        int callerThread = Environment.CurrentManagedThreadId;
        var threads = new System.Collections.Concurrent.ConcurrentBag<int>();
        var calls = Enumerable.Range(0, 6).Select(i => Task.Run(async () =>
        {
            threads.Add(Environment.CurrentManagedThreadId);
            return await detector.DetectAsync(images[i % 2]).ConfigureAwait(false);
        })).ToArray();
        var results = await Task.WhenAll(calls);
        for (int i = 0; i < results.Length; i++)
            Assert.That(results[i], Is.EqualTo(expected[i % 2]), $"call {i} on {deviceName}");
        Assert.That(threads, Has.Some.Not.EqualTo(callerThread), "some calls ran on another thread");
    }
}
