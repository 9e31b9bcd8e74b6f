using System.Text;
using Ssd.Engine.Graph;
using Ssd.Weights;
using Ssd.Weights.Caffe;
using Ssd.Weights.Model;
using Ssd.Weights.SafeTensors;
using Ssd.Weights.Tensors;
using Ssd.Weights.Torch;

namespace Ssd.Fuzz;

/// <summary>The targets, in the order the runner cycles through them. Add new readers here.</summary>
public static class FuzzTargets
{
    public static IReadOnlyList<FuzzTarget> All() =>
    [
        new PickleTarget(), new CheckpointTarget(zip: true), new CheckpointTarget(zip: false), new CaffemodelTarget(),
        new PrototxtTarget(), new SafeTensorsTarget(), new ModelDescriptionTarget(), new TorchConvertTarget(), new CaffeConvertTarget(),
        new VocXmlTarget(), new CocoInstancesTarget(), new CocoResultsTarget(), new ImageTarget(),
    ];
}

/// <summary>A round trip that did not give back what went in: a bug, not a bad file.</summary>
public sealed class FuzzOracleException(string message) : Exception(message);

/// <summary>The restricted unpickler on its own (state-dict allow-list, persistent ids returned as they are).</summary>
public sealed class PickleTarget : FuzzTarget
{
    public override string Name => "pickle";
    public override string Description => "Unpickler: Python's own pickles, malicious ones, checkpoints' data.pkl, floods";

    public override IReadOnlyList<byte[]> Seeds(FuzzContext c)
    {
        var torch = Path.Combine(c.Fixtures, "torch");
        var seeds = c.Files(torch, "*.pkl").Concat(c.Files(Path.Combine(torch, "malicious"), "*.pkl")).ToList();
        foreach (var zip in c.Files(torch, "*.zip.pth"))
        {
            using var archive = new System.IO.Compression.ZipArchive(new MemoryStream(zip));
            var entry = archive.Entries.First(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal));
            using var s = entry.Open();
            var m = new MemoryStream();
            s.CopyTo(m);
            seeds.Add(m.ToArray());
        }
        seeds.Add(Bombs.HashFloodPickle(200_000));
        seeds.Add(PickleWriter.StateDict([new("w", "0", 4, [2, 2], [2, 1], Long1: true)]));
        return seeds;
    }

    public override byte[] Mutate(byte[] seed, Random rng, IReadOnlyList<byte[]> seeds) => Mutators.Pickle(seed, rng, seeds);

    private static readonly Dictionary<string, PickleCall?> Globals = Globals_();

    private static Dictionary<string, PickleCall?> Globals_()
    {
        var g = Unpickler.BaseGlobals();
        g["torch._utils._rebuild_tensor_v2"] = args => args;
        g["torch.FloatStorage"] = null;
        return g;
    }

    public override IReadOnlyCollection<string> Run(byte[] input, string scratch)
    {
        new Unpickler(Globals, id => id, name: "fuzz.pkl").Load(input);
        return [];
    }
}

/// <summary>TorchCheckpoint on one of its two formats: zip archives (torch.save >= 1.6) or the legacy stream (ssd.pytorch's releases).</summary>
public sealed class CheckpointTarget(bool zip) : FuzzTarget
{
    public override string Name => zip ? "zip" : "legacy";
    public override string Description => zip
        ? "TorchCheckpoint, zip format: fixtures by torch, malicious ones, the issue's bombs (scaled down); structure-aware mutations"
        : "TorchCheckpoint, legacy format: fixtures by torch._use_new_zipfile_serialization=False, malicious ones";

    public override IReadOnlyList<byte[]> Seeds(FuzzContext c)
    {
        var torch = Path.Combine(c.Fixtures, "torch");
        var pattern = zip ? "*.zip.pth" : "*.legacy.pth";
        var seeds = c.Files(torch, pattern).Concat(c.Files(Path.Combine(torch, "malicious"), pattern)).ToList();
        if (zip)
            seeds.AddRange([
                Bombs.Small(), Bombs.Small(deflate: true), Bombs.Small(zip64: true), Bombs.Long1Ints(), Bombs.DuplicateEntries(), Bombs.OverflowingStorage(),
                Bombs.StorageBiggerThanEntry(), Bombs.DictFlood(200_000), Bombs.OverlappingEntries(1 << 20), Bombs.InflatingPickle(80L << 20),
            ]);
        return seeds;
    }

    public override byte[] Mutate(byte[] seed, Random rng, IReadOnlyList<byte[]> seeds) =>
        zip ? Mutators.Zip(seed, rng, seeds) : Mutators.Pickle(seed, rng, seeds);

    public override IReadOnlyCollection<string> Run(byte[] input, string scratch)
    {
        TorchCheckpoint.Load(new MemoryStream(input, writable: false), "fuzz.pth");
        return [];
    }
}

/// <summary>CaffemodelReader (protobuf wire format).</summary>
public sealed class CaffemodelTarget : FuzzTarget
{
    public override string Name => "caffemodel";
    public override string Description => "CaffemodelReader: python-protobuf fixtures and the real face detector";

    public override IReadOnlyList<byte[]> Seeds(FuzzContext c) =>
        [.. c.Files(Path.Combine(c.Fixtures, "caffe"), "*.caffemodel"), .. c.Files(Path.Combine(c.SharedRoot, "models", "yufacedetectnet-open-v2"), "*.caffemodel")];

    public override IReadOnlyCollection<string> Run(byte[] input, string scratch)
    {
        CaffemodelReader.Read(input, name: "fuzz.caffemodel");
        return [];
    }
}

/// <summary>Prototxt parsing, the net definition and the field check of every layer (strict, then lenient).</summary>
public sealed class PrototxtTarget : FuzzTarget
{
    public override string Name => "prototxt";
    public override string Description => "PrototxtParser, CaffeNetDefinition, CaffeFieldCheck: real deploy files (face, MobileNet, VGG SSD300/512)";

    public override IReadOnlyList<byte[]> Seeds(FuzzContext c) =>
    [
        .. c.Files(Path.Combine(c.SharedRoot, "models", "yufacedetectnet-open-v2"), "*.prototxt"),
        .. c.Files(Path.Combine(c.SharedRoot, "models", "mobilenet-ssd-structure"), "*.prototxt"),
        .. c.Files(Path.Combine(c.Fixtures, "generated", "caffe_ssd300"), "*.prototxt"),
        .. c.Files(Path.Combine(c.Fixtures, "generated", "caffe_ssd512"), "*.prototxt"),
    ];

    public override byte[] Mutate(byte[] seed, Random rng, IReadOnlyList<byte[]> seeds) => Mutators.Text(seed, rng, seeds);

    public override IReadOnlyCollection<string> Run(byte[] input, string scratch)
    {
        var net = CaffeNetDefinition.From(PrototxtParser.Parse(Encoding.UTF8.GetString(input)), "fuzz.prototxt");
        foreach (var lenient in new[] { false, true })
        {
            var check = new CaffeFieldCheck(net.Source, lenient);
            try
            {
                check.Net(net.Root);
                foreach (var l in net.Layers.Append(net.InputLayer))
                    if (l is not null && CaffeLayerFields.Layers.ContainsKey(l.Type)) check.Param(l);
                return [];
            }
            catch (InvalidDataException) when (!lenient) { } // unknown field: try lenient
        }
        return [];
    }
}

/// <summary>SafeTensorsFile.Read.</summary>
public sealed class SafeTensorsTarget : FuzzTarget
{
    public override string Name => "safetensors";
    public override string Description => "SafeTensorsFile: the spec-written fixture and the example model file";

    public override IReadOnlyList<byte[]> Seeds(FuzzContext c) =>
        [.. c.Files(Path.Combine(c.Fixtures, "torch"), "*.safetensors"), .. c.Files(Path.Combine(c.RepoRoot, "examples", "shapes"), "*.safetensors")];

    public override IReadOnlyCollection<string> Run(byte[] input, string scratch)
    {
        SafeTensorsFile.Read(new MemoryStream(input, writable: false), "fuzz.safetensors");
        return [];
    }
}

/// <summary>
/// The model description (safetensors metadata "ssd.model") and its consumers: parse and validate, plan the network
/// at its input size (what `detect` does before running), write the model file and read it back (what `inspect`
/// does). A description that validates but that the planner rejects with anything but InvalidDataException is a finding.
/// </summary>
public sealed class ModelDescriptionTarget : FuzzTarget
{
    private IReadOnlyDictionary<string, TensorData> tensors = new Dictionary<string, TensorData>();

    public override string Name => "model";
    public override string Description => "ModelDescription JSON -> ModelFile save/read -> PlanBuilder: the example model's description";

    private byte[]? seed;

    public override void Prepare(FuzzContext c)
    {
        var path = Path.Combine(c.RepoRoot, "examples", "shapes", "shapes_ssd.safetensors");
        if (!File.Exists(path)) return;
        var file = SafeTensorsFile.Read(path);
        tensors = file.Tensors;
        seed = Encoding.UTF8.GetBytes(file.Metadata[ModelFile.DescriptionKey]);
    }

    public override IReadOnlyList<byte[]> Seeds(FuzzContext c) => seed is null ? [] : [seed];

    public override byte[] Mutate(byte[] seed, Random rng, IReadOnlyList<byte[]> seeds) => Mutators.Text(seed, rng, seeds);

    public override IReadOnlyCollection<string> Run(byte[] input, string scratch)
    {
        var d = ModelDescription.FromJson(Encoding.UTF8.GetString(input), tensors.Keys.ToList());
        var used = d.Layers.SelectMany(l => l.TensorShapes()).Select(t => t.Tensor).Distinct().ToDictionary(n => n, n => tensors[n]);
        PlanBuilder.Build(d, used, d.Input.Width, d.Input.Height);
        var path = Path.Combine(scratch, "model.safetensors");
        ModelFile.Save(path, d, used);
        var back = ModelFile.Read(path);
        if (back.Description.ToJson() != d.ToJson()) throw new FuzzOracleException("model description changed in a save/read round trip");
        return ["model.safetensors"];
    }
}

/// <summary>`ssd convert` on PyTorch checkpoints: read, convert, write, read back, compare.</summary>
public sealed class TorchConvertTarget : FuzzTarget
{
    public override string Name => "convert-torch";
    public override string Description => "TorchCheckpoint -> TorchConverter -> ModelFile.Save -> ModelFile.Read (tensors bit for bit)";

    public override IReadOnlyList<byte[]> Seeds(FuzzContext c)
    {
        var torch = Path.Combine(c.Fixtures, "torch");
        return [.. new[] { "ssd_pytorch_like", "torchvision_like" }.SelectMany(m => new[] { $"{m}.zip.pth", $"{m}.legacy.pth" })
            .Select(f => Path.Combine(torch, f)).Where(File.Exists).Select(File.ReadAllBytes)];
    }

    public override byte[] Mutate(byte[] seed, Random rng, IReadOnlyList<byte[]> seeds) =>
        seed.AsSpan().StartsWith("PK"u8) ? Mutators.Zip(seed, rng, seeds) : Mutators.Pickle(seed, rng, seeds);

    public override IReadOnlyCollection<string> Run(byte[] input, string scratch)
    {
        var state = TorchCheckpoint.Load(new MemoryStream(input, writable: false), "fuzz.pth");
        var result = TorchConverter.Convert(state);
        return ConvertOracle.SaveAndCompare(result, scratch);
    }
}

/// <summary>`ssd convert` on the real Caffe face detector with a mutated deploy file (strict, then lenient).</summary>
public sealed class CaffeConvertTarget : FuzzTarget
{
    private IReadOnlyDictionary<string, CaffeLayerBlobs> blobs = new Dictionary<string, CaffeLayerBlobs>();

    public override string Name => "convert-caffe";
    public override string Description => "deploy.prototxt -> CaffeConverter (face detector blobs) -> ModelFile.Save -> ModelFile.Read";

    private static string Dir(FuzzContext c) => Path.Combine(c.SharedRoot, "models", "yufacedetectnet-open-v2");

    public override void Prepare(FuzzContext c)
    {
        if (File.Exists(Path.Combine(Dir(c), "model.caffemodel"))) blobs = CaffemodelReader.ReadFile(Path.Combine(Dir(c), "model.caffemodel"));
    }

    public override IReadOnlyList<byte[]> Seeds(FuzzContext c) =>
        blobs.Count == 0 ? [] : [File.ReadAllBytes(Path.Combine(Dir(c), "deploy.prototxt"))];

    public override byte[] Mutate(byte[] seed, Random rng, IReadOnlyList<byte[]> seeds) => Mutators.Text(seed, rng, seeds);

    public override IReadOnlyCollection<string> Run(byte[] input, string scratch)
    {
        var net = CaffeNetDefinition.From(PrototxtParser.Parse(Encoding.UTF8.GetString(input)), "fuzz.prototxt");
        ConversionResult result;
        try { result = CaffeConverter.Convert(net, blobs); }
        catch (InvalidDataException e) when (e.Message.Contains("unknown field", StringComparison.Ordinal))
        {
            result = CaffeConverter.Convert(net, blobs, new ConversionOptions { Lenient = true });
        }
        return ConvertOracle.SaveAndCompare(result, scratch);
    }
}

/// <summary>The convert targets' oracle: what is written reads back identical (convert never writes a file its reader refuses).</summary>
internal static class ConvertOracle
{
    public static IReadOnlyCollection<string> SaveAndCompare(ConversionResult result, string scratch)
    {
        var path = Path.Combine(scratch, "model.safetensors");
        ModelFile.Save(path, result);
        LoadedModel back;
        try { back = ModelFile.Read(path); }
        catch (Exception e) when (ReaderErrors.IsFileContentError(e))
        {
            throw new FuzzOracleException($"convert wrote a file its own reader refuses: {e.Message}");
        }
        if (back.Description.ToJson() != result.Description.ToJson()) throw new FuzzOracleException("description changed in the round trip");
        foreach (var (name, t) in result.Tensors)
            if (!back.Tensors.TryGetValue(name, out var b) || !b.Shape.SequenceEqual(t.Shape) || !b.Bytes.AsSpan().SequenceEqual(t.Bytes))
                throw new FuzzOracleException($"tensor '{name}' changed in the round trip");
        return ["model.safetensors"];
    }
}
