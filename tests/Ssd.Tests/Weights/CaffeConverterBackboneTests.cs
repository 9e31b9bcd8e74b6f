using Ssd.Weights.Caffe;
using Ssd.Weights.Model;
using Ssd.Weights.Tensors;

namespace Ssd.Tests.Weights;

/// <summary>
/// The Caffe converter on the layers ResNet-SSD and MobileNet-SSD add to VGG's: Eltwise (operation by name or
/// number, coefficients), BatchNorm (the stored sums divided by the moving-average factor; use_global_stats false
/// refused), Scale (axis / num_axes, bias term), and their parameter blocks' field lists. The description survives a
/// JSON round trip with them and with the input options.
/// </summary>
public class CaffeConverterBackboneTests
{
    private const string Deploy = """
        name: "tiny-resnet"
        input: "data"
        input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
        layer { name: "data_bn" type: "BatchNorm" bottom: "data" top: "data_bn" batch_norm_param { eps: 0.001 } }
        layer { name: "data_scale" type: "Scale" bottom: "data_bn" top: "data_bn" scale_param { bias_term: true } }
        layer { name: "conv1" type: "Convolution" bottom: "data_bn" top: "conv1" convolution_param { num_output: 3 kernel_size: 3 pad: 1 bias_term: false } }
        layer { name: "sum" type: "Eltwise" bottom: "conv1" bottom: "data_bn" top: "sum" ELTWISE }
        layer { name: "wide" type: "Scale" bottom: "sum" top: "sum" scale_param { axis: 1 num_axes: -1 } }
        layer { name: "loc_perm" type: "Permute" bottom: "sum" top: "loc_perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
        layer { name: "loc" type: "Flatten" bottom: "loc_perm" top: "loc" }
        layer { name: "prior" type: "PriorBox" bottom: "sum" bottom: "data" top: "prior"
                prior_box_param { min_size: 4 variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 step: 1 } }
        layer { name: "det" type: "DetectionOutput" bottom: "loc" bottom: "loc" bottom: "prior" include { phase: TEST }
                detection_output_param { num_classes: 4 nms_param { nms_threshold: 0.45 top_k: 10 } code_type: CENTER_SIZE keep_top_k: 5 confidence_threshold: 0.1 } }
        """;

    private static CaffeBlob Blob(string name, int[] shape, float[] values, bool legacy = false) =>
        new(new TensorData(name, shape, TensorDType.Float32, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray()), legacy);

    private static Dictionary<string, CaffeLayerBlobs> Blobs(float factor = 2f) => new()
    {
        ["data_bn"] = new("data_bn", "BatchNorm", [Blob("m", [3], [2f, 4f, 6f]), Blob("v", [3], [8f, 10f, 12f]), Blob("f", [1], [factor])]),
        ["data_scale"] = new("data_scale", "Scale", [Blob("s", [1, 1, 1, 3], [1f, 2f, 3f], legacy: true), Blob("b", [3], [0.1f, 0.2f, 0.3f])]),
        ["conv1"] = new("conv1", "Convolution", [Blob("w", [3, 3, 3, 3], TestData.Uniform(1, 81))]),
        ["wide"] = new("wide", "Scale", [Blob("s", [3, 8, 8], TestData.Uniform(2, 192, 0.5f, 1.5f))]),
    };

    private static ConversionResult Convert(string eltwise = "", Dictionary<string, CaffeLayerBlobs>? blobs = null, ConversionOptions? options = null) =>
        CaffeConverter.Convert(CaffeNetDefinition.Parse(Deploy.Replace("ELTWISE", eltwise)), blobs ?? Blobs(), options);

    [Test]
    public void EltwiseBatchNormAndScaleConvert()
    {
        var r = Convert();
        var d = r.Description;
        var sum = d.Layers.OfType<EltwiseLayer>().Single();
        Assert.That((sum.Operation, sum.Coefficients, sum.Inputs), Is.EqualTo((EltwiseOperation.Sum, Array.Empty<float>(), new[] { "conv1", "data_bn" })));
        var bn = d.Layers.OfType<BatchNormLayer>().Single();
        Assert.That((bn.Channels, bn.Eps), Is.EqualTo((3, 0.001f)));
        // Caffe's running sums divided by the moving-average factor.
        Assert.That(r.Tensors[bn.Mean].ToFloat32(), Is.EqualTo(new[] { 1f, 2f, 3f }));
        Assert.That(r.Tensors[bn.Variance].ToFloat32(), Is.EqualTo(new[] { 4f, 5f, 6f }));
        var scales = d.Layers.OfType<ScaleLayer>().ToList();
        Assert.That((scales[0].Channels, scales[0].Axis, scales[0].NumAxes, scales[0].Bias is not null), Is.EqualTo((3, 1, 1, true)));
        Assert.That(r.Tensors[scales[0].Scale].Shape, Is.EqualTo(new[] { 3 }), "a legacy (1,1,1,3) blob");
        Assert.That((scales[1].Channels, scales[1].Axis, scales[1].NumAxes, scales[1].Bias), Is.EqualTo((192, 1, -1, (string?)null)));
        Assert.That(r.Tensors[scales[1].Scale].Shape, Is.EqualTo(new[] { 192 }), "factors over C, H, W stored flat");
    }

    [TestCase("eltwise_param { operation: PROD }", EltwiseOperation.Prod)]
    [TestCase("eltwise_param { operation: 0 }", EltwiseOperation.Prod)]
    [TestCase("eltwise_param { operation: MAX }", EltwiseOperation.Max)]
    [TestCase("eltwise_param { operation: 2 }", EltwiseOperation.Max)]
    [TestCase("eltwise_param { operation: SUM coeff: 1 coeff: -1 }", EltwiseOperation.Sum)]
    [TestCase("eltwise_param { stable_prod_grad: true }", EltwiseOperation.Sum)]
    public void EltwiseOperationsConvert(string param, EltwiseOperation expected)
    {
        var sum = Convert(param).Description.Layers.OfType<EltwiseLayer>().Single();
        Assert.That(sum.Operation, Is.EqualTo(expected));
        Assert.That(sum.Coefficients, Is.EqualTo(param.Contains("coeff") ? new[] { 1f, -1f } : Array.Empty<float>()));
    }

    [TestCase("eltwise_param { operation: PROD coeff: 1 coeff: 2 }", "only taken by SUM")]
    [TestCase("eltwise_param { coeff: 1 }", "1 coefficients for 2 bottoms")]
    [TestCase("eltwise_param { operation: MIN }", "operation MIN")]
    [TestCase("eltwise_param { coef: 1 coef: 2 }", "unknown field 'eltwise_param.coef'")]
    public void BadEltwiseParametersNameTheProblem(string param, string message)
    {
        var e = Assert.Throws<InvalidDataException>(() => Convert(param))!;
        Assert.That(e.Message, Does.Contain("'sum'").And.Contain(message));
    }

    [Test]
    public void BadBatchNormAndScaleParametersNameTheProblem()
    {
        var e = Assert.Throws<InvalidDataException>(() => CaffeConverter.Convert(
            CaffeNetDefinition.Parse(Deploy.Replace("ELTWISE", "").Replace("eps: 0.001", "use_global_stats: false")), Blobs()))!;
        Assert.That(e.Message, Does.Contain("'data_bn'").And.Contain("use_global_stats"));
        e = Assert.Throws<InvalidDataException>(() => CaffeConverter.Convert(
            CaffeNetDefinition.Parse(Deploy.Replace("ELTWISE", "").Replace("axis: 1 num_axes: -1", "axes: 1")), Blobs()))!;
        Assert.That(e.Message, Does.Contain("'wide'").And.Contain("unknown field 'scale_param.axes'"));
        var blobs = Blobs();
        blobs["data_bn"] = blobs["data_bn"] with { Blobs = [.. blobs["data_bn"].Blobs.Take(2), Blob("f", [2], [1f, 1f])] };
        e = Assert.Throws<InvalidDataException>(() => Convert(blobs: blobs))!;
        Assert.That(e.Message, Does.Contain("moving-average factor"));
    }

    [Test]
    public void AZeroMovingAverageFactorMeansZeroStatistics()
    {
        var r = Convert(blobs: Blobs(factor: 0f));
        var bn = r.Description.Layers.OfType<BatchNormLayer>().Single();
        Assert.That(r.Tensors[bn.Mean].ToFloat32(), Is.All.Zero);
        Assert.That(r.Tensors[bn.Variance].ToFloat32(), Is.All.Zero);
    }

    [Test]
    public void DescriptionWithTheNewLayersAndInputOptionsSurvivesJson()
    {
        var d = Convert("eltwise_param { coeff: 0.5 coeff: 2 }",
            options: new ConversionOptions { Mean = [127.5f, 127.5f, 127.5f], Scale = 0.007843f, Std = [1f, 2f, 4f], PixelRange = PixelRange.Unit }).Description;
        var json = d.ToJson();
        var back = ModelDescription.FromJson(json);
        Assert.That(back.ToJson(), Is.EqualTo(json));
        Assert.That(json, Does.Contain("\"type\": \"Eltwise\"").And.Contain("\"operation\": \"sum\"").And.Contain("\"numAxes\": -1")
            .And.Contain("\"scale\": 0.007843").And.Contain("\"pixelRange\": \"0..1\""));
        Assert.That(back.Input.Scale, Is.EqualTo(0.007843f));
        Assert.That(back.Input.Std, Is.EqualTo(new[] { 1f, 2f, 4f }));
        Assert.That(back.Layers.OfType<EltwiseLayer>().Single().Coefficients, Is.EqualTo(new[] { 0.5f, 2f }));
        // A model file written before the scale existed reads as scale 1.
        var old = ModelDescription.FromJson(json.Replace("\"scale\": 0.007843,", ""));
        Assert.That(old.Input.Scale, Is.EqualTo(1f));
        Assert.Throws<InvalidDataException>(() => ModelDescription.FromJson(json.Replace("\"scale\": 0.007843", "\"scale\": 0")));
        Assert.Throws<InvalidDataException>(() => ModelDescription.FromJson(json.Replace("\"operation\": \"sum\"", "\"operation\": \"prod\"")),
            "coefficients with a product");
    }
}
