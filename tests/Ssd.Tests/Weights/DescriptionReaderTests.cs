using System.Text.Json;
using System.Text.Json.Nodes;
using Ssd.Weights.Model;
using Ssd.Weights.SafeTensors;

namespace Ssd.Tests.Weights;

/// <summary>
/// The description reader that runs without System.Text.Json's serializer (DescriptionReader) against the
/// serializer itself, the reference: on the real descriptions and on thousands of mutations of them (a property
/// removed, set to null or to a value of another type or spelling, an unknown or repeated property, the layer
/// discriminator moved, the text cut), whatever the reader accepts the serializer accepts and reads the same
/// (ToJson identical); everything else the reader declines, and FromJson hands it to the serializer as before.
/// </summary>
public class DescriptionReaderTests
{
    private static string ShapesJson() =>
        SafeTensorsFile.Read(Path.Combine(WeightsPaths.RepoRoot, "examples", "shapes", "shapes_ssd.safetensors")).Metadata[ModelFile.DescriptionKey];

    /// <summary>One of every layer type, every optional property set to something other than its default.</summary>
    private static ModelDescription EveryField()
    {
        string[] io = ["a"];
        return new ModelDescription
        {
            Name = "every-field", Flavor = ModelFlavor.SsdPytorch,
            Input = new InputSpec
            {
                Blob = "image", Width = 30, Height = 20, Channels = 3, ChannelOrder = ChannelOrder.Rgb, Mean = [0.5f, -1e-7f, 3e30f],
                Std = [0.25f, 1f, 2f], Scale = 0.007843f, PixelRange = PixelRange.Unit, Resize = ResizeMethod.TorchBilinear,
            },
            Layers =
            [
                new ConvolutionLayer
                {
                    Name = "c", Inputs = io, Outputs = io, InChannels = 3, OutChannels = 4, KernelH = 3, KernelW = 1, StrideH = 2, StrideW = 3,
                    PadH = 1, PadW = 2, DilationH = 2, DilationW = 3, Groups = 1, Weight = "c.w", Bias = "c.b",
                },
                new ReluLayer { Name = "r", Inputs = io, Outputs = io, NegativeSlope = 0.1f },
                new PoolingLayer { Name = "p", Inputs = io, Outputs = io, Method = PoolMethod.Average, KernelH = 3, KernelW = 2, StrideH = 2, StrideW = 1, PadH = 1, PadW = 1, Global = true, Rounding = PoolRounding.Floor },
                new NormalizeLayer { Name = "n", Inputs = io, Outputs = io, AcrossSpatial = true, ChannelShared = true, Eps = 1e-12f, EpsMode = NormEps.ClampMin, Channels = 4, Scale = "n.s" },
                new PermuteLayer { Name = "pe", Inputs = io, Outputs = io, Order = [0, 2, 3, 1] },
                new FlattenLayer { Name = "f", Inputs = io, Outputs = io, Axis = 2, EndAxis = 3 },
                new ConcatLayer { Name = "ca", Inputs = ["a", "b"], Outputs = io, Axis = 2 },
                new ReshapeLayer { Name = "re", Inputs = io, Outputs = io, Dims = [0, -1, 5] },
                new SoftmaxLayer { Name = "s", Inputs = io, Outputs = io, Axis = 2 },
                new BatchNormLayer { Name = "b", Inputs = io, Outputs = io, Channels = 4, Eps = 1e-5f, Mean = "b.m", Variance = "b.v" },
                new ScaleLayer { Name = "sc", Inputs = io, Outputs = io, Channels = 4, Axis = 2, NumAxes = -1, Scale = "sc.s", Bias = "sc.b" },
                new EltwiseLayer { Name = "e", Inputs = ["a", "b"], Outputs = io, Operation = EltwiseOperation.Max, Coefficients = [0.5f, 2f] },
            ],
            Outputs = new OutputSpec { Loc = "l", Conf = "c", ConfIsProbability = false },
            Priors = new PriorConfig
            {
                Style = ModelFlavor.SsdPytorch,
                Maps =
                [
                    new PriorSpec
                    {
                        Source = "a", MinSizes = [30f, 40f], MaxSizes = [60f, 70f], AspectRatios = [2f, 3f], Flip = false, Clip = true,
                        Variances = [0.2f, 0.2f, 0.1f, 0.1f], StepWidth = 8f, StepHeight = 9f, Offset = 0.25f, ImageWidth = 300, ImageHeight = 200,
                    },
                ],
            },
            PostProcess = new PostProcessSpec
            {
                Style = ModelFlavor.SsdPytorch, NumClasses = 3, BackgroundId = 1, ConfidenceThreshold = 0.01f, NmsThreshold = 0.45f, TopK = 200,
                KeepTopK = 100, Variances = [0.1f, 0.1f, 0.2f, 0.3f], ShareLocation = false, Clip = true, CodeType = "CORNER", ClassNames = ["bg", "x", "y"],
            },
        };
    }

    private static string Serializer(string json) => JsonSerializer.Deserialize<ModelDescription>(json, ModelDescription.JsonOptions)!.ToJson();

    [Test]
    public void ReadsWhatToJsonWritesAsTheSerializerDoes()
    {
        foreach (var json in new[] { ShapesJson(), EveryField().ToJson(), Engine.TinySsd.Create(batchNorm: true).Model.ToJson() })
        {
            var d = DescriptionReader.TryRead(json);
            Assert.That(d, Is.Not.Null, "the strict form is read without the serializer");
            Assert.That(d!.ToJson(), Is.EqualTo(Serializer(json)));
        }
        // (The example file predates "scale" and lacks it; what ToJson writes now comes back byte for byte.)
        foreach (var json in new[] { EveryField().ToJson(), Engine.TinySsd.Create(batchNorm: true).Model.ToJson() })
            Assert.That(DescriptionReader.TryRead(json)!.ToJson(), Is.EqualTo(json));
        // The initializers stand for what the JSON leaves out, as with the serializer.
        var bare = JsonNode.Parse(EveryField().ToJson())!;
        foreach (var field in new[] { "blob", "channels", "scale" }) bare["input"]!.AsObject().Remove(field);
        foreach (var field in new[] { "variances", "shareLocation", "clip", "codeType", "backgroundId", "keepTopK", "classNames" }) bare["postProcess"]!.AsObject().Remove(field);
        foreach (var layer in bare["layers"]!.AsArray()) foreach (var field in new[] { "strideH", "groups", "bias", "axis", "operation", "coefficients", "negativeSlope", "endAxis", "numAxes" }) layer!.AsObject().Remove(field);
        var read = DescriptionReader.TryRead(bare.ToJsonString());
        Assert.That(read, Is.Not.Null);
        Assert.That(read!.ToJson(), Is.EqualTo(Serializer(bare.ToJsonString())));
        Assert.That(read.Input.Scale, Is.EqualTo(1f));
        Assert.That(read.Input.Blob, Is.EqualTo("data"));
        Assert.That(read.PostProcess.Variances, Is.EqualTo(new[] { 0.1f, 0.1f, 0.2f, 0.2f }));
        Assert.That(read.PostProcess.ShareLocation, Is.True);
    }

    private static readonly string[] Replacements =
    [
        "null", "\"x\"", "1.5", "3", "-1", "0", "true", "false", "[]", "{}", "\"NaN\"", "\"Infinity\"", "1e39", "-1e39", "1e-50", "2147483648",
        "3.0", "1e0", "\"3\"", "[1]", "[\"a\"]", "[null]", "{\"x\": 1}", "\"max\"", "\"Max\"", "\"caffe\"", "\"Caffe\"", "\"0..1\"", "\"\\ud800\"",
    ];

    private static IEnumerable<string> Mutations(string json)
    {
        var paths = new List<string[]>();
        void Walk(JsonNode node, string[] at)
        {
            if (node is JsonObject o) foreach (var (k, v) in o) { paths.Add([.. at, k]); if (v is not null) Walk(v, [.. at, k]); }
            else if (node is JsonArray a)
                foreach (int i in new[] { 0, 1, a.Count - 1 }.Where(i => i >= 0 && i < a.Count).Distinct())
                { paths.Add([.. at, $"{i}"]); if (a[i] is { } v) Walk(v, [.. at, $"{i}"]); }
        }
        var original = JsonNode.Parse(json)!;
        Walk(original, []);
        JsonNode Parent(JsonNode root, string[] path) => path[..^1].Aggregate(root, (n, k) => n is JsonArray a ? a[int.Parse(k)]! : n[k]!);
        foreach (var path in paths)
        {
            var root = JsonNode.Parse(json)!;
            var parent = Parent(root, path);
            if (parent is JsonArray arr) arr.RemoveAt(int.Parse(path[^1])); else parent.AsObject().Remove(path[^1]);
            yield return root.ToJsonString();
            var value = Parent(original, path) is JsonArray oa ? oa[int.Parse(path[^1])] : Parent(original, path)[path[^1]];
            var others = value is JsonValue v && v.TryGetValue(out string? s) ? Replacements.Append(JsonSerializer.Serialize(s.ToUpperInvariant())) : Replacements;
            foreach (var replacement in others)
            {
                root = JsonNode.Parse(json)!;
                parent = Parent(root, path);
                var node = JsonNode.Parse(replacement.Replace("\\ud800", "x"));
                if (parent is JsonArray a) a[int.Parse(path[^1])] = node; else parent[path[^1]] = node;
                var text = root.ToJsonString();
                // A lone surrogate escape, which JsonNode would not write.
                yield return replacement.Contains("ud800") ? text.Replace($"\"x\"", "\"\\ud800\"") : text;
            }
            if (Parent(original, path) is JsonObject po)
            {
                // A repeated property, an unknown one, and the property moved last (for a layer's "type": after the rest).
                yield return json.Replace($"\"{path[^1]}\":", $"\"{path[^1]}\": {po[path[^1]]?.ToJsonString() ?? "null"}, \"{path[^1]}\":");
                root = JsonNode.Parse(json)!;
                var obj = Parent(root, path).AsObject();
                var moved = obj[path[^1]];
                obj.Remove(path[^1]);
                obj[path[^1]] = moved;
                obj["unknownField"] = 1;
                yield return root.ToJsonString();
                obj.Remove("unknownField");
                yield return root.ToJsonString();
            }
        }
        foreach (int cut in new[] { 0, 1, json.Length / 3, json.Length / 2, json.Length - 2, json.Length - 1 }) yield return json[..cut];
        yield return json.TrimEnd()[..^1] + ",}";
        yield return "// comment\n" + json;
        yield return "null";
        yield return "[]";
        yield return "\"x\"";
    }

    [Test]
    public void AcceptsOnlyWhatTheSerializerReadsTheSame()
    {
        var every = EveryField().ToJson();
        var shapes = JsonNode.Parse(ShapesJson())!;
        // The real description's layers thinned to one of each type (the mutations of the rest would only repeat them).
        var layers = shapes["layers"]!.AsArray();
        var kept = layers.Where(l => l!["type"]!.GetValue<string>() is var t && layers.First(m => m!["type"]!.GetValue<string>() == t) == l)
            .Select(l => l!.DeepClone()).ToArray();
        shapes["layers"] = new JsonArray(kept);
        int accepted = 0, total = 0;
        foreach (var json in new[] { every, shapes.ToJsonString() })
            foreach (var mutated in Mutations(json))
            {
                total++;
                var fast = DescriptionReader.TryRead(mutated);
                if (fast is null) continue;
                accepted++;
                string reference;
                try { reference = Serializer(mutated); }
                catch (Exception e) when (e is JsonException or NotSupportedException)
                {
                    Assert.Fail($"accepted what the serializer refuses ({e.Message}):\n{mutated}");
                    throw;
                }
                Assert.That(fast.ToJson(), Is.EqualTo(reference), mutated);
            }
        Assert.That(total, Is.GreaterThan(5000));
        Assert.That(accepted, Is.GreaterThan(100), "numbers and optional fields the strict form allows");
        TestContext.Out.WriteLine($"{total} mutations, {accepted} read without the serializer");
    }
}
