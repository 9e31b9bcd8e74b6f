using System.Diagnostics;
using System.Text.Json;
using Ssd.Engine.Backends.Cpu;
using Ssd.Kernels.Cpu;
using Ssd.Engine.Detection;
using Ssd.Engine.Imaging;
using Ssd.Engine.Network;
using Ssd.Weights.Model;
using Ssd.Weights.Torch;
using static Ssd.Tests.Acceptance.PeerFixtures;
using FoundObject = Ssd.Engine.Detection.Detection;

namespace Ssd.Tests.Acceptance;

/// <summary>
/// One full-size run of a PyTorch-flavoured peer fixture (torchvision or ssd.pytorch): the generated checkpoint
/// converted with TorchConverter, the detector run once on the CPU backend on the fixture's photo, with the
/// pre-processed input, the named source blobs and the raw conf logits ("mbox_conf") captured for comparison.
/// </summary>
internal sealed record TorchPeerRun(ModelDescription Model, float[] Input, SsdOutput Output, IReadOnlyList<FoundObject> Detections,
    JsonElement Manifest, Func<string, string> File)
{
    public static TorchPeerRun Load(string folder, string script, string[] sources, string label)
    {
        string File(string name) => Generated(folder, name, script);
        var manifest = JsonDocument.Parse(System.IO.File.ReadAllText(File("manifest.json"))).RootElement;
        int width = manifest.GetProperty("image")[0].GetInt32(), height = manifest.GetProperty("image")[1].GetInt32();
        var rgb = System.IO.File.ReadAllBytes(File("photo_rgb.bin"));
        var watch = Stopwatch.StartNew();
        var model = TorchConverter.Convert(TorchCheckpoint.Load(File("model.pth")));
        var converted = watch.Elapsed.TotalSeconds;
        var network = new CapturingNetwork(model.Description, model.Tensors, new CpuBackend(), [.. sources, "mbox_conf"]);
        using var detector = new SsdDetector(model.Description, network, new HostPreprocessor(model.Description.Input));
        var detections = detector.Detect(new RgbImage(width, height, rgb));
        TestContext.Out.WriteLine($"{label}: converted in {converted:F1} s, detector built and run in {watch.Elapsed.TotalSeconds - converted:F1} s (CPU backend)");
        return new TorchPeerRun(model.Description, network.LastInput!, network.LastOutput!, detections, manifest, File);
    }
}
