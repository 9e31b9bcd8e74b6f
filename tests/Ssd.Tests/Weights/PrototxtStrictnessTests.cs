using Ssd.Weights.Caffe;
using Ssd.Weights.Model;

namespace Ssd.Tests.Weights;

/// <summary>
/// Issue 16 item 5: unknown fields in the parameters of layers Ssd interprets are errors (or, lenient, warnings
/// listed in the model), checked on the real face detector's deploy file; fields of parts Ssd does not run stay
/// accepted and are listed as ignored.
/// </summary>
public class PrototxtStrictnessTests
{
    private static string Deploy => Path.Combine(WeightsPaths.FaceModelDir, "deploy.prototxt");
    private static string Caffemodel => Path.Combine(WeightsPaths.FaceModelDir, "model.caffemodel");

    /// <summary>The face deploy file with one edit, written next to the test's work folder.</summary>
    private static string Edited(Func<string, string> edit, string name)
    {
        var text = File.ReadAllText(Deploy);
        var edited = edit(text);
        Assert.That(edited, Is.Not.EqualTo(text), "the edit applies");
        var path = Path.Combine(TestContext.CurrentContext.WorkDirectory, name);
        File.WriteAllText(path, edited);
        return path;
    }

    /// <summary>Replaces the first `order:` inside a permute_param block, returning its 1-based line.</summary>
    private static string MisspellOrder(string text, out int line)
    {
        int block = text.IndexOf("permute_param", StringComparison.Ordinal);
        int at = text.IndexOf("order", block, StringComparison.Ordinal);
        line = text[..at].Count(c => c == '\n') + 1;
        return text[..at] + "or5er" + text[(at + "order".Length)..];
    }

    [Test]
    public void TheRealDeployFileConvertsStrictlyAndListsWhatIsNotRun()
    {
        var r = CaffeConverter.Convert(Deploy, Caffemodel);
        var detection = r.Ignored!.Single(i => i.Contains("(DetectionOutput)"));
        Assert.That(detection, Does.Contain("transform_param").And.Contain("detection_output_param.visualize").And.Contain("detection_output_param.visualize_threshold"));
        Assert.That(r.Ignored, Has.None.Contains("unknown"));
        Assert.That(r.Warnings, Has.None.Contains("--lenient"));
    }

    [Test]
    public void AMisspeltPermuteOrderFailsNamingFileLineAndField()
    {
        // The case: `order` -> `or5er` on one Permute line converted silently, and then found 14 faces instead of 1.
        string path = Edited(t => MisspellOrder(t, out _), "or5er.prototxt");
        MisspellOrder(File.ReadAllText(Deploy), out int line);
        var e = Assert.Throws<InvalidDataException>(() => CaffeConverter.Convert(path, Caffemodel))!;
        Assert.That(e.Message, Does.StartWith($"or5er.prototxt line {line}: Permute layer '").And.Contain("unknown field 'permute_param.or5er'")
            .And.Contain("known: order").And.Contain("--lenient").And.Not.Contain("\n"));
    }

    [Test]
    public void LenientConvertsWarnsAndRecordsTheIgnoredFieldInTheModel()
    {
        string path = Edited(t => MisspellOrder(t, out _), "or5er-lenient.prototxt");
        MisspellOrder(File.ReadAllText(Deploy), out int line);
        var r = CaffeConverter.Convert(path, Caffemodel, new ConversionOptions { Lenient = true });
        Assert.That(r.Warnings, Has.One.Contains("permute_param.or5er").And.Contains("ignored (--lenient)"));
        Assert.That(r.Ignored, Has.One.Contains($"permute_param.or5er (unknown, line {line})"));

        var model = Path.Combine(TestContext.CurrentContext.WorkDirectory, "or5er-lenient.safetensors");
        try
        {
            ModelFile.Save(model, r);
            var back = ModelFile.Read(model);
            Assert.That(back.Ignored, Is.EqualTo(r.Ignored));
        }
        finally { File.Delete(model); }
    }

    [TestCase("convolution_param {", "convolution_parm {", "unknown field 'convolution_parm'")] // a layer-level field
    [TestCase("nms_threshold", "nms_treshold", "unknown field 'detection_output_param.nms_param.nms_treshold'")] // nested
    [TestCase("input: \"data\"", "input: \"data\" forse_backward: true", "the net: unknown field 'forse_backward'")] // top level
    [TestCase("min_size", "minsize", "unknown field 'prior_box_param.minsize'")]
    public void UnknownFieldsAtEveryLevelAreErrors(string from, string to, string message)
    {
        string path = Edited(t => ReplaceFirst(t, from, to), "unknown.prototxt");
        var e = Assert.Throws<InvalidDataException>(() => CaffeConverter.Convert(path, Caffemodel))!;
        Assert.That(e.Message, Does.Contain(message));
    }

    [Test]
    public void FieldsSsdCannotHonourAreRefusedNotIgnored()
    {
        string eta = Edited(t => ReplaceFirst(t, "nms_threshold", "eta: 0.9 nms_threshold"), "eta.prototxt");
        Assert.That(Assert.Throws<InvalidDataException>(() => CaffeConverter.Convert(eta, Caffemodel))!.Message, Does.Contain("adaptive NMS"));
        string axis = Edited(t => ReplaceFirst(t, "convolution_param {", "convolution_param { axis: 2"), "axis.prototxt");
        Assert.That(Assert.Throws<InvalidDataException>(() => CaffeConverter.Convert(axis, Caffemodel))!.Message, Does.Contain("axis 2 is not supported"));
    }

    [Test]
    public void PoolingRoundModeIsHonoured()
    {
        string floor = Edited(t => ReplaceFirst(t, "pooling_param {", "pooling_param { round_mode: FLOOR"), "floor.prototxt");
        var pools = CaffeConverter.Convert(floor, Caffemodel).Description.Layers.OfType<PoolingLayer>().ToList();
        Assert.That(pools[0].Rounding, Is.EqualTo(PoolRounding.Floor));
        Assert.That(pools.Skip(1).Select(p => p.Rounding), Is.All.EqualTo(PoolRounding.Ceil));
    }

    [Test]
    public void ALayerTypeWithoutARowInTheTableIsAProgrammingError()
    {
        var layer = new CaffeLayerDefinition("e", "Eltwise2", ["a"], ["b"], new PrototxtMessage());
        var e = Assert.Throws<InvalidOperationException>(() => new CaffeFieldCheck("x", lenient: false).Param(layer))!;
        Assert.That(e.Message, Does.Contain("CaffeLayerFields.Layers"));
        // every row names a parameter block that Caffe knows
        foreach (var (type, row) in CaffeLayerFields.Layers)
            Assert.That(row.Param is null || CaffeLayerFields.CaffeParamBlocks.Contains(row.Param), Is.True, type);
    }

    private static string ReplaceFirst(string text, string from, string to)
    {
        int at = text.IndexOf(from, StringComparison.Ordinal);
        return at < 0 ? text : text[..at] + to + text[(at + from.Length)..];
    }
}
