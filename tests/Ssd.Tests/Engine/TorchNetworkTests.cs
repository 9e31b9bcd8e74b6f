using Ssd.Engine.Network;
using Ssd.Weights.Model;
using Ssd.Weights.Torch;
using static Ssd.Tests.Engine.NetworkFixtures;

namespace Ssd.Tests.Engine;

/// <summary>
/// Reduced-width torchvision ssd300_vgg16 and ssd.pytorch SSD300 (tools/fixtures/make_network_fixtures.py),
/// converted with TorchConverter and run on the CPU backend and on PoCL: every source feature map and the head
/// outputs against PyTorch within 1e-4 relative; priors against torchvision's anchors.
/// </summary>
public class TorchNetworkTests
{
    private const int Classes = 3, Priors = 8732;
    private static readonly string[] TorchvisionSources =
        ["backbone.scale_weight", "backbone.extra.0.7.4", "backbone.extra.1.3", "backbone.extra.2.3", "backbone.extra.3.3", "backbone.extra.4.3"];
    private static readonly string[] SsdPytorchSources = ["L2Norm", "vgg.34", "extras.1.relu", "extras.3.relu", "extras.5.relu", "extras.7.relu"];

    private static ConversionResult Convert(string folder) => TorchConverter.Convert(TorchCheckpoint.Load(Network($"{folder}/model.pth")));

    private static float[] Input(int batch) =>
        [.. PortableInput(1, 3 * 300 * 300), .. batch == 2 ? PortableInput(2, 3 * 300 * 300) : []];

    [TestCaseSource(typeof(NetworkFixtures), nameof(BackendNames))]
    public void TorchvisionSourcesAndHeadsMatchTorch(string backendName)
    {
        var model = Convert("torchvision");
        Assert.That(model.Description.Flavor, Is.EqualTo(ModelFlavor.Torchvision));
        using var backend = Backend(backendName);
        using var net = SsdNetwork.Load(model.Description, model.Tensors, backend, batch: 2, capture: [.. TorchvisionSources, "mbox_conf"]);
        var output = net.Forward(Input(2), capture: [.. TorchvisionSources, "mbox_conf"]);

        for (int k = 0; k < TorchvisionSources.Length; k++)
        {
            var expected = ReadFloats(Network($"torchvision/source{k}.bin"));
            var actual = output.Captured[TorchvisionSources[k]];
            AssertRelative($"{backendName} source {k} ({TorchvisionSources[k]})", actual.AsSpan(0, expected.Length), expected);
        }
        var box = ReadFloats(Network("torchvision/bbox_regression.bin"));
        var logits = ReadFloats(Network("torchvision/cls_logits.bin"));
        AssertRelative($"{backendName} bbox_regression (batch 2)", output.Loc, box);
        AssertRelative($"{backendName} cls_logits (batch 2)", output.Captured["mbox_conf"], logits);
        AssertRelative($"{backendName} softmax(cls_logits)", output.Conf, Softmax(logits, Classes));
    }

    [TestCaseSource(typeof(NetworkFixtures), nameof(BackendNames))]
    public void TorchvisionPriorsEqualTorchvisionAnchors(string backendName)
    {
        var model = Convert("torchvision");
        using var backend = Backend(backendName);
        using var net = SsdNetwork.Load(model.Description, model.Tensors, backend);
        var anchors = ReadFloats(Ssd.Tests.Fixtures.FixtureFiles.Path("priors/torchvision_ssd300.f32"));
        Assert.That(net.PriorCount, Is.EqualTo(Priors));
        double worst = 0;
        for (int i = 0; i < anchors.Length; i++) worst = Math.Max(worst, Math.Abs(net.Priors.Boxes[i] - anchors[i]));
        TestContext.Out.WriteLine($"{backendName}: priors max abs difference {worst:E2} px");
        Assert.That(worst, Is.LessThanOrEqualTo(1e-4), "priors vs torchvision anchors (pixels)");
    }

    [TestCaseSource(typeof(NetworkFixtures), nameof(BackendNames))]
    public void SsdPytorchLegacyCheckpointMatchesItsReference(string backendName)
    {
        var model = Convert("ssd_pytorch");
        Assert.That(model.Description.Flavor, Is.EqualTo(ModelFlavor.SsdPytorch));
        using var backend = Backend(backendName);
        using var net = SsdNetwork.Load(model.Description, model.Tensors, backend, capture: [.. SsdPytorchSources, "mbox_conf"]);
        var output = net.Forward(Input(1), capture: [.. SsdPytorchSources, "mbox_conf"]);
        for (int k = 0; k < SsdPytorchSources.Length; k++)
            AssertRelative($"{backendName} source {k} ({SsdPytorchSources[k]})", output.Captured[SsdPytorchSources[k]], ReadFloats(Network($"ssd_pytorch/source{k}.bin")));
        var conf = ReadFloats(Network("ssd_pytorch/conf.bin"));
        AssertRelative($"{backendName} loc", output.Loc, ReadFloats(Network("ssd_pytorch/loc.bin")));
        AssertRelative($"{backendName} conf logits", output.Captured["mbox_conf"], conf);
        AssertRelative($"{backendName} softmax(conf)", output.Conf, Softmax(conf, Classes));
        Assert.That(net.PriorCount, Is.EqualTo(Priors));
    }
}
