using Ssd.Weights.Model;

namespace Ssd.Tests.Weights;

public class ModelDescriptionTests
{
    private static ConversionResult Face()
    {
        var dir = WeightsPaths.FaceModelDir;
        return CaffeConverter.Convert(Path.Combine(dir, "deploy.prototxt"), Path.Combine(dir, "model.caffemodel"));
    }

    [Test]
    public void JsonRoundTripIsLossless()
    {
        var d = Face().Description;
        var json = d.ToJson();
        var back = ModelDescription.FromJson(json);
        Assert.That(back.ToJson(), Is.EqualTo(json));
        Assert.That(back.Layers.Select(l => l.GetType()), Is.EqualTo(d.Layers.Select(l => l.GetType())));
        Assert.That(json, Does.Contain("\"flavor\": \"caffe\"").And.Contain("\"resize\": \"opencv-linear\"").And.Contain("\"type\": \"Convolution\""));
    }

    [Test]
    public void ModelFileRoundTripKeepsDescriptionAndTensors()
    {
        var r = Face();
        var path = Path.Combine(Path.GetTempPath(), $"ssd-model-{Guid.NewGuid():N}.safetensors");
        try
        {
            ModelFile.Save(path, r.Description, r.Tensors);
            var (d, tensors) = ModelFile.Load(path);
            Assert.That(d.ToJson(), Is.EqualTo(r.Description.ToJson()));
            Assert.That(tensors.Keys, Is.EquivalentTo(r.Tensors.Keys));
            foreach (var (name, t) in r.Tensors)
            {
                Assert.That(tensors[name].Shape, Is.EqualTo(t.Shape), name);
                Assert.That(tensors[name].Bytes, Is.EqualTo(t.Bytes), name);
            }
        }
        finally { File.Delete(path); }
    }

    [Test]
    public void ValidationNamesTheProblem()
    {
        var d = Face().Description;
        var e = Assert.Throws<InvalidDataException>(() => (d with { Layers = d.Layers.Skip(1).ToArray() }).Validate())!;
        Assert.That(e.Message, Does.Contain("reads blob 'conv1_1'"));
        e = Assert.Throws<InvalidDataException>(() => (d with { PostProcess = d.PostProcess with { ClassNames = ["a", "b", "c"] } }).Validate())!;
        Assert.That(e.Message, Does.Contain("3 class names for 2 classes"));
        e = Assert.Throws<InvalidDataException>(() => d.Validate(["conv1_1.weight"]))!;
        Assert.That(e.Message, Does.Contain("needs tensor"));
    }

    [Test]
    public void MalformedJsonIsInvalidData()
    {
        Assert.Throws<InvalidDataException>(() => ModelDescription.FromJson("{ \"name\": 3"));
        Assert.Throws<InvalidDataException>(() => ModelDescription.FromJson("{ \"name\": \"x\" }"));
        var json = Face().Description.ToJson().Replace("\"type\": \"ReLU\"", "\"type\": \"Swish\"");
        Assert.Throws<InvalidDataException>(() => ModelDescription.FromJson(json));
    }

    [Test]
    public void ConvertAndInspectCommandsWork()
    {
        var dir = WeightsPaths.FaceModelDir;
        var path = Path.Combine(Path.GetTempPath(), $"ssd-cli-{Guid.NewGuid():N}.safetensors");
        try
        {
            int rc = Ssd.Cli.Program.Main(["convert", Path.Combine(dir, "model.caffemodel"), "--prototxt", Path.Combine(dir, "deploy.prototxt"),
                "--classes", "face", "--mean", "104,117,123", "-o", path]);
            Assert.That(rc, Is.EqualTo(0));
            var (d, _) = ModelFile.Load(path);
            Assert.That(d.PostProcess.ClassNames, Is.EqualTo(new[] { "background", "face" }));
            Assert.That(d.Input.Mean, Is.EqualTo(new[] { 104f, 117f, 123f }));
            Assert.That(Ssd.Cli.Program.Main(["inspect", path]), Is.EqualTo(0));
            Assert.That(Ssd.Cli.Program.Main(["inspect", Path.Combine(dir, "deploy.prototxt")]), Is.EqualTo(3), "a prototxt is no model file");
        }
        finally { File.Delete(path); }
    }
}
