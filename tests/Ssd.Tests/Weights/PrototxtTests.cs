using Ssd.Weights.Caffe;
using Ssd.Weights.Model;

namespace Ssd.Tests.Weights;

public class PrototxtTests
{
    [Test]
    public void ParsesCommentsStringsNestedMessagesAndRepeatedFields()
    {
        var m = PrototxtParser.Parse("""
            # a comment
            name: "net # not a comment"   # trailing comment
            layer { name: 'a' type: "ReLU" bottom: "x" top: "x" relu_param: { negative_slope: -1.5e-1 } }
            layer {
              name: "b"
              permute_param { order: 0 order: 2 order: [3, 1] }
            }
            """);
        Assert.That(m.String("name"), Is.EqualTo("net # not a comment"));
        var layers = m.Messages("layer").ToList();
        Assert.That(layers, Has.Count.EqualTo(2));
        Assert.That(layers[0].Message("relu_param")!.Float("negative_slope", 0), Is.EqualTo(-0.15f));
        Assert.That(layers[1].Message("permute_param")!.Ints("order"), Is.EqualTo(new[] { 0, 2, 3, 1 }));
    }

    [Test]
    public void InputDimAndInputShapeAndInputLayerGiveTheSameInput()
    {
        const string tail = "layer { name: 'r' type: 'ReLU' bottom: 'data' top: 'r' }";
        var a = CaffeNetDefinition.Parse("input: 'data' input_dim: 1 input_dim: 3 input_dim: 240 input_dim: 320 " + tail);
        var b = CaffeNetDefinition.Parse("input: 'data' input_shape { dim: 1 dim: 3 dim: 240 dim: 320 } " + tail);
        var c = CaffeNetDefinition.Parse("layer { name: 'in' type: 'Input' top: 'data' input_param { shape { dim: 1 dim: 3 dim: 240 dim: 320 } } } " + tail);
        foreach (var net in new[] { a, b, c })
        {
            Assert.That(net.InputBlob, Is.EqualTo("data"));
            Assert.That(net.InputShape, Is.EqualTo(new long[] { 1, 3, 240, 320 }));
            Assert.That(net.Layers.Select(l => l.Name), Is.EqualTo(new[] { "r" }));
        }
    }

    [Test]
    public void TrainOnlyLayersAreDroppedAndTestLayersKept()
    {
        var net = CaffeNetDefinition.Parse("""
            input: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
            layer { name: "train" type: "ReLU" bottom: "data" top: "data" include { phase: TRAIN } }
            layer { name: "test" type: "ReLU" bottom: "data" top: "data" include { phase: TEST } }
            layer { name: "notest" type: "ReLU" bottom: "data" top: "data" exclude { phase: TEST } }
            layer { name: "always" type: "ReLU" bottom: "data" top: "data" }
            """);
        Assert.That(net.Layers.Select(l => l.Name), Is.EqualTo(new[] { "test", "always" }));
    }

    [Test]
    public void UnknownFieldsAreSkipped()
    {
        var net = CaffeNetDefinition.Parse("""
            input: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
            some_future_field: { deeply { nested: 1 } }
            layer { name: "r" type: "ReLU" bottom: "data" top: "r" param { lr_mult: 1 } unknown_param { x: FOO y: "z" } }
            """);
        Assert.That(net.Layers, Has.Count.EqualTo(1));
    }

    [TestCase("layer { name: \"a\" \n type: \"ReLU\"\n bottom: \"x\" \n", 4, TestName = "missing closing brace")]
    [TestCase("name: \"net\"\nlayer {\n  name: \"a\n}", 3, TestName = "unterminated string")]
    [TestCase("name: \"net\"\n\nlayer {\n  name \"a\"\n}", 4, TestName = "missing colon")]
    [TestCase("name: \"net\"\n}\n", 2, TestName = "stray brace")]
    [TestCase("a: 1\nb: [1, 2\nc: 3", 3, TestName = "unterminated list")]
    public void MalformedTextReportsTheLine(string text, int line)
    {
        var e = Assert.Throws<PrototxtSyntaxException>(() => PrototxtParser.Parse(text))!;
        Assert.That(e.Line, Is.EqualTo(line), e.Message);
        Assert.That(e.Message, Does.Contain($"line {line}"));
    }

    [Test]
    public void WrongValueKindNamesFieldAndLine()
    {
        var m = PrototxtParser.Parse("x: 1\nconvolution_param { num_output: \"many\" }");
        var e = Assert.Throws<InvalidDataException>(() => m.Message("convolution_param")!.Int("num_output", 0))!;
        Assert.That(e.Message, Does.Contain("num_output").And.Contain("line 2"));
    }

    [Test]
    public void UnknownLayerTypeNamesTypeAndLayer()
    {
        var net = CaffeNetDefinition.Parse("""
            input: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
            layer { name: "weird1" type: "Crop" bottom: "data" top: "c" }
            """);
        var e = Assert.Throws<InvalidDataException>(() => CaffeConverter.Convert(net, new Dictionary<string, CaffeLayerBlobs>()))!;
        Assert.That(e.Message, Does.Contain("'weird1'").And.Contain("'Crop'"));
    }

    [Test]
    public void RealFaceDetectorDeployParses()
    {
        var net = CaffeNetDefinition.Load(Path.Combine(WeightsPaths.FaceModelDir, "deploy.prototxt"));
        Assert.That(net.Name, Is.EqualTo("YuFaceDetectNet"));
        Assert.That(net.InputShape, Is.EqualTo(new long[] { 1, 3, 240, 320 }));
        // Counted independently with grep: 76 `layer {` blocks, all TEST-phase.
        var text = File.ReadAllText(Path.Combine(WeightsPaths.FaceModelDir, "deploy.prototxt"));
        Assert.That(net.Layers, Has.Count.EqualTo(System.Text.RegularExpressions.Regex.Matches(text, @"^layer\s*\{", System.Text.RegularExpressions.RegexOptions.Multiline).Count));
        Assert.That(net.Layers.Count(l => l.Type == "Convolution"), Is.EqualTo(24));
        Assert.That(net.Layers.Count(l => l.Type == "PriorBox"), Is.EqualTo(4));
    }

    /// <summary>Random truncations and byte flips must give a syntax or data error, never a crash or a hang.</summary>
    [Test]
    public void FuzzedDeployFilesFailCleanly()
    {
        var text = File.ReadAllText(Path.Combine(WeightsPaths.FaceModelDir, "deploy.prototxt"));
        var rng = new Random(7);
        int failures = 0;
        for (int i = 0; i < 300; i++)
        {
            var chars = text.ToCharArray();
            int len = i % 2 == 0 ? rng.Next(chars.Length) : chars.Length;
            for (int f = 0; f < 3; f++) chars[rng.Next(len == 0 ? 1 : len) % chars.Length] = "{}:\"'#[]x1 -\n"[rng.Next(13)];
            try { CaffeNetDefinition.Parse(new string(chars, 0, len)); }
            catch (Exception e) when (e is FormatException or InvalidDataException) { failures++; }
        }
        Assert.That(failures, Is.GreaterThan(0));
    }
}
