using Ssd.Tests.Acceptance;
using Ssd.Weights.Model;
using Ssd.Weights.Model.Architecture;
using Ssd.Weights.Tensors;
using Ssd.Weights.Torch;

namespace Ssd.Tests.Cli;

/// <summary>
/// `ssd train --arch ... --backbone FILE` (issue 12's real recipe): the ImageNet VGG-16 each reference starts SSD
/// training from, in the file each publishes (tools/fixtures/make_backbone_fixtures.py: seeded weights at 1/8 width),
/// lands where that reference puts it: torchvision's VGG-16 where torchvision's own _vgg_extractor puts it,
/// ssd.pytorch's vgg16_reducedfc.pth on its vgg.N (its train.py's ssd_net.vgg.load_state_dict) and Caffe's
/// fc_reduced caffemodel on the layers of the same names; a backbone trained on another input, other widths or a file
/// that is no VGG-16 is refused.
/// </summary>
public class TrainBackboneTests
{
    private const string Script = "make_backbone_fixtures.py";
    private static string File(string name) => PeerFixtures.Generated("backbone", name, Script);

    private static void AssertSame(TensorData expected, TensorData actual, string what)
    {
        Assert.That(actual.Shape, Is.EqualTo(expected.Shape), what);
        Assert.That(actual.ToFloat32(), Is.EqualTo(expected.ToFloat32()), what);
    }

    [Test]
    public void TorchvisionsVggLandsWhereTorchvisionsExtractorPutsIt()
    {
        var backbone = VggBackbone.Read(File("torchvision_vgg16.pth"));
        Assert.That(backbone.Origin, Is.EqualTo(VggBackbone.Origin.Torchvision));
        var model = VggBackbone.ForModel(backbone, ModelFlavor.Torchvision);
        var extractor = TorchCheckpoint.Load(File("torchvision_extractor.pth"));
        // torchvision's extractor holds VGG's 13 convolutions (features.N, extra.0.1/3/5) and new layers (fc6, fc7 at
        // extra.0.7, the extras, scale_weight): the backbone is exactly the first.
        var fromVgg = extractor.Where(kv => kv.Key.StartsWith("features.", StringComparison.Ordinal)
            || System.Text.RegularExpressions.Regex.IsMatch(kv.Key, @"^extra\.0\.[135]\.")).ToList();
        Assert.That(fromVgg, Has.Count.EqualTo(26));
        Assert.That(model.Keys, Is.EquivalentTo(fromVgg.Select(kv => "backbone." + kv.Key)));
        foreach (var (key, tensor) in fromVgg) AssertSame(tensor, model["backbone." + key], key);
    }

    [Test]
    public void SsdPytorchsAndCaffesReducedVggLandOnTheirLayers()
    {
        var pth = VggBackbone.Read(File("ssd_pytorch_vgg16_reducedfc.pth"));
        var caffe = VggBackbone.Read(File("caffe_vgg16_fc_reduced.caffemodel"));
        Assert.That((pth.Origin, caffe.Origin), Is.EqualTo((VggBackbone.Origin.SsdPytorch, VggBackbone.Origin.Caffe)));
        var state = TorchCheckpoint.Load(File("ssd_pytorch_vgg16_reducedfc.pth"));
        var sp = VggBackbone.ForModel(pth, ModelFlavor.SsdPytorch);
        Assert.That(sp.Keys, Is.EquivalentTo(state.Keys.Select(k => "vgg." + k)), "ssd_net.vgg.load_state_dict(vgg16_reducedfc)");
        foreach (var (key, tensor) in state) AssertSame(tensor, sp["vgg." + key], key);
        // The caffemodel holds the same weights under Caffe's layer names: conv1_1 .. conv5_3, fc6, fc7.
        var cf = VggBackbone.ForModel(caffe, ModelFlavor.Caffe);
        Assert.That(cf, Has.Count.EqualTo(30));
        Assert.That(cf["fc6.weight"].Shape, Is.EqualTo(new[] { 128, 64, 3, 3 }));
        foreach (var (name, tensor) in VggBackbone.ForModel(pth, ModelFlavor.Caffe)) AssertSame(tensor, cf[name], name);
    }

    [TestCase("torchvision", "torchvision_vgg16.pth", 26)]
    [TestCase("ssd.pytorch", "ssd_pytorch_vgg16_reducedfc.pth", 30)]
    [TestCase("caffe", "caffe_vgg16_fc_reduced.caffemodel", 30)]
    public void TrainStartsFromTheBackbone(string flavor, string file, int tensors)
    {
        string run = Path.Combine(Path.GetTempPath(), "ssd-backbone-" + Guid.NewGuid().ToString("N"));
        try
        {
            // --freeze-backbone: the step leaves the backbone as loaded, so the model written holds it bit for bit.
            var r = CliRunner.Run("train", "--arch", "ssd300-vgg16", "--width-divisor", "8", "--flavor", flavor, "--backbone", File(file), "--freeze-backbone",
                "--data", "shapes:1:4", "--batch", "2", "--steps", "1", "--out", run, "--backend", "cpu");
            Assert.That(r.Code, Is.EqualTo(0), r.ToString());
            Assert.That(r.Err, Does.Contain($"ssd: backbone from {File(file)}").And.Contain($"({tensors} tensors); the rest initialised"));
            var model = ModelFile.Load(Path.Combine(run, "model.safetensors")).Tensors;
            var expected = VggBackbone.ForModel(VggBackbone.Read(File(file)), flavor switch
            {
                "torchvision" => ModelFlavor.Torchvision,
                "ssd.pytorch" => ModelFlavor.SsdPytorch,
                _ => ModelFlavor.Caffe,
            });
            Assert.That(expected, Has.Count.EqualTo(tensors));
            foreach (var (name, tensor) in expected) AssertSame(tensor, model[name], name);
        }
        finally { if (Directory.Exists(run)) Directory.Delete(run, true); }
    }

    [Test]
    public void ABackboneThatDoesNotFitIsRefused()
    {
        string run = Path.Combine(Path.GetTempPath(), "ssd-backbone-" + Guid.NewGuid().ToString("N"));
        string[] Train(string flavor, string backbone, string divisor = "8", params string[] start) =>
            ["train", .. start.Length > 0 ? start : ["--arch", "ssd300-vgg16"], "--width-divisor", divisor, "--flavor", flavor, "--backbone", backbone,
             "--data", "shapes:1:4", "--batch", "2", "--steps", "1", "--out", run, "--backend", "cpu"];
        try
        {
            var rgb = CliRunner.Run(Train("caffe", File("torchvision_vgg16.pth"))).AssertCleanErrors();
            Assert.That(rgb.Code, Is.EqualTo(3), rgb.ToString());
            Assert.That(rgb.Err, Does.Contain("does not fit the Caffe flavour"));
            var bgr = CliRunner.Run(Train("torchvision", File("caffe_vgg16_fc_reduced.caffemodel"))).AssertCleanErrors();
            Assert.That(bgr.Code, Is.EqualTo(3), bgr.ToString());
            Assert.That(bgr.Err, Does.Contain("does not fit the torchvision flavour"));
            var wide = CliRunner.Run(Train("torchvision", File("torchvision_vgg16.pth"), divisor: "4")).AssertCleanErrors();
            Assert.That(wide.Code, Is.EqualTo(3), wide.ToString());
            Assert.That(wide.Err, Does.Contain("backbone.features.0.weight is [8, 3, 3, 3] there and [16, 3, 3, 3] in the model"));
            var notVgg = CliRunner.Run(Train("torchvision", CliRunner.ShapesModel)).AssertCleanErrors();
            Assert.That(notVgg.Code, Is.EqualTo(3), notVgg.ToString());
            Assert.That(notVgg.Err, Does.Contain("not a VGG-16 backbone"));
            var withModel = CliRunner.Run(Train("torchvision", File("torchvision_vgg16.pth"), "8", "--model", CliRunner.ShapesModel)).AssertCleanErrors();
            Assert.That(withModel.Code, Is.EqualTo(2), withModel.ToString());
            Assert.That(withModel.Err, Does.Contain("--backbone needs --arch"));
            Assert.That(Directory.Exists(run) ? Directory.GetFileSystemEntries(run) : [], Is.Empty, "nothing written for a refused backbone");
        }
        finally { if (Directory.Exists(run)) Directory.Delete(run, true); }
    }
}
