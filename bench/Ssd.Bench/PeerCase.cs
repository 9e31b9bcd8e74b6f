using Ssd.Kernels.Core;

namespace Ssd.Bench;

/// <summary>
/// One row of <see cref="PeerBenchmarks"/>. Model: ssd300-tv (torchvision ssd300_vgg16, 91 classes), ssd300-caffe
/// or ssd512-caffe (Caffe SSD VGG16 VOC0712, 21 classes). Scope: "net" = the network alone on an already
/// pre-processed batch (input tensor to raw loc / conf outputs); "e2e" = end to end from the decoded photo to the
/// detections (pre-process, network, decode, NMS, rescale); "ipc" = the PyTorch runner's empty round trip;
/// "convert" = reading the peer checkpoint and converting it to our model (in memory).
/// Peer: ours-cpu (managed CPU backend), ours-cuda (when a GPU is present), onnxruntime, opencv, pytorch.
/// </summary>
public sealed record PeerCase(string Model, string Scope, int Batch, string Peer)
{
    public override string ToString() => $"{Model} {Scope,-7} b{Batch} {Peer}";

    /// <summary>Every case whose files exist; a line on the console for each peer skipped and why.</summary>
    public static IEnumerable<PeerCase> Available()
    {
        var all = All().ToList();
        var peers = Filter("SSD_BENCH_PEERS");
        var models = Filter("SSD_BENCH_MODELS");
        var batches = Filter("SSD_BENCH_BATCHES");
        var missing = new SortedSet<string>();
        foreach (var c in all)
        {
            if (peers is not null && !peers.Contains(c.Peer)) continue;
            if (models is not null && !models.Contains(c.Model)) continue;
            if (batches is not null && !batches.Contains(c.Batch.ToString(System.Globalization.CultureInfo.InvariantCulture))) continue;
            if (PeerFiles.Missing(c) is { } why) { missing.Add($"skipped {c.Peer} on {c.Model}: {why}"); continue; }
            yield return c;
        }
        foreach (var line in missing) Console.WriteLine("// " + line);
    }

    private static HashSet<string>? Filter(string variable) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } v ? v.Split(',', StringSplitOptions.TrimEntries).ToHashSet() : null;

    private static IEnumerable<PeerCase> All()
    {
        var ours = ComputeDevice.HasCuda() ? new[] { "ours-cpu", "ours-cuda" } : ["ours-cpu"];
        // SSD300, torchvision weights: ours, ONNX Runtime (torch.onnx.export of the same network), PyTorch itself.
        foreach (int b in new[] { 1, 8 })
        {
            foreach (var o in ours) yield return new("ssd300-tv", "net", b, o);
            yield return new("ssd300-tv", "net", b, "onnxruntime");
            yield return new("ssd300-tv", "net", b, "pytorch");
            foreach (var o in ours) yield return new("ssd300-tv", "e2e", b, o);
            yield return new("ssd300-tv", "e2e", b, "pytorch");
        }
        yield return new("ssd300-tv", "ipc", 1, "pytorch");
        yield return new("ssd300-tv", "convert", 1, "ours-cpu");
        // SSD300 and SSD512, Caffe weights: ours and OpenCV DNN (which reads the prototxt and caffemodel itself).
        foreach (var model in new[] { "ssd300-caffe", "ssd512-caffe" })
        {
            foreach (int b in new[] { 1, 8 })
            {
                foreach (var o in ours) yield return new(model, "net", b, o);
                yield return new(model, "net", b, "opencv");
            }
            foreach (var o in ours) yield return new(model, "e2e", 1, o);
            yield return new(model, "e2e", 1, "opencv");
        }
        yield return new("ssd300-caffe", "convert", 1, "ours-cpu");
    }
}
