using Ssd.Engine.Imaging;
using Ssd.Engine.Training.Input;
using Ssd.Engine.Training.Loss;
using Ssd.Kernels.Preprocess;
using Ssd.Tests.Kernels.Preprocess;
using Ssd.Weights.Model;

namespace Ssd.Tests.Training;

/// <summary>
/// Each flavour's training-time input against the peers on the same synthetic images
/// (tools/fixtures/make_training_input_fixtures.py: torchvision's GeneralizedRCNNTransform in training mode,
/// ssd.pytorch's SSDAugmentation without its random steps, Caffe's WARP resize as cv2 does it): the network input
/// and the boxes bit for bit. ssd.pytorch's float cv2.resize is reproduced in OpenCvFloatResize; its stated bound
/// is 1 ulp of 255 (about 3e-5) per value, and it measures 0 here.
/// </summary>
public class TrainingInputTests
{
    private const string Script = "make_training_input_fixtures.py";
    private static readonly Lazy<FixtureBlob> fixture = new(() => FixtureBlob.Generated("input", Script));

    public static readonly InputSpec TorchvisionSpec = new()
    {
        Width = 300, Height = 300, ChannelOrder = ChannelOrder.Rgb, Mean = PreprocessFixtures.TorchvisionMean, Std = PreprocessFixtures.TorchvisionStd,
        PixelRange = PixelRange.Unit, Resize = ResizeMethod.TorchBilinear,
    };
    public static readonly InputSpec SsdPytorchSpec = new()
    {
        Width = 300, Height = 300, ChannelOrder = ChannelOrder.Rgb, Mean = [123f, 117f, 104f], Std = [1f, 1f, 1f], PixelRange = PixelRange.Byte, Resize = ResizeMethod.OpenCvLinear,
    };
    public static readonly InputSpec CaffeSpec = new()
    {
        Width = 300, Height = 300, ChannelOrder = ChannelOrder.Bgr, Mean = [104f, 117f, 123f], Std = [1f, 1f, 1f], PixelRange = PixelRange.Byte, Resize = ResizeMethod.OpenCvLinear,
    };

    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (var size in new[] { "500x375", "353x500", "600x600", "150x97", "301x299" })
            foreach (var (flavor, key) in new[] { (ModelFlavor.Torchvision, "torchvision"), (ModelFlavor.SsdPytorch, "ssd.pytorch"), (ModelFlavor.Caffe, "caffe") })
                yield return new TestCaseData(size, flavor, key).SetName($"{key} {size}");
    }

    private static InputSpec Spec(ModelFlavor f) => f switch { ModelFlavor.Torchvision => TorchvisionSpec, ModelFlavor.SsdPytorch => SsdPytorchSpec, _ => CaffeSpec };

    [TestCaseSource(nameof(Cases))]
    public void InputAndBoxesEqualThePeer(string size, ModelFlavor flavor, string key)
    {
        var f = fixture.Value;
        var c = f.Meta.GetProperty("cases").EnumerateArray().First(e => e.GetProperty("name").GetString() == size);
        int w = c.GetProperty("width").GetInt32(), h = c.GetProperty("height").GetInt32(), seed = c.GetProperty("seed").GetInt32();
        var image = new RgbImage(w, h, SyntheticImage.Create(w, h, seed));
        var spec = Spec(flavor);
        var voc = f.Ints($"{size}/voc");
        var coco = f.Doubles($"{size}/coco");
        var vocObjects = Enumerable.Range(0, voc.Length / 4).Select(i => new Annotation(voc[4 * i], voc[4 * i + 1], voc[4 * i + 2], voc[4 * i + 3], 1)).ToArray();
        var cocoObjects = Enumerable.Range(0, coco.Length / 4).Select(i => new Annotation(coco[4 * i], coco[4 * i + 1], coco[4 * i + 2], coco[4 * i + 3], 1)).ToArray();

        var input = new float[3 * 300 * 300];
        var truth = TrainingInput.Prepare(flavor, spec, image, vocObjects, AnnotationFormat.Voc, input);
        var expected = f.Floats($"{size}/{key}/input");
        double worst = 0;
        for (int i = 0; i < input.Length; i++) worst = Math.Max(worst, Math.Abs(input[i] - expected[i]));
        TestContext.Out.WriteLine($"{key} {size}: largest input difference {worst:E2}");
        Assert.That(worst, Is.LessThanOrEqualTo(flavor == ModelFlavor.SsdPytorch ? 3.1e-5 : 0), "network input");
        Assert.That(truth.Boxes, Is.EqualTo(f.Floats($"{size}/{key}/voc")), "VOC boxes");
        var cocoTruth = TrainingInput.Truth(flavor, spec, w, h, cocoObjects, AnnotationFormat.Coco);
        Assert.That(cocoTruth.Boxes, Is.EqualTo(f.Floats($"{size}/{key}/coco")), "COCO boxes");
        Assert.That(cocoTruth.Labels, Has.Length.EqualTo(cocoTruth.Boxes.Length / 4));
    }

    [Test]
    public void BatchesPrepareEachImageAsAlone()
    {
        var images = new[] { (60, 40, 1), (33, 71, 2), (300, 300, 3) }
            .Select(s => (Image: new RgbImage(s.Item1, s.Item2, SyntheticImage.Create(s.Item1, s.Item2, s.Item3)),
                Objects: (IReadOnlyList<Annotation>)[new Annotation(2, 3, s.Item1 - 4, s.Item2 - 2, 5)])).ToArray();
        foreach (var flavor in new[] { ModelFlavor.Torchvision, ModelFlavor.SsdPytorch, ModelFlavor.Caffe })
        {
            var batch = new float[images.Length * 3 * 300 * 300];
            var truths = TrainingInput.PrepareBatch(flavor, Spec(flavor), images, AnnotationFormat.Voc, batch);
            for (int i = 0; i < images.Length; i++)
            {
                var alone = new float[3 * 300 * 300];
                var truth = TrainingInput.Prepare(flavor, Spec(flavor), images[i].Image, images[i].Objects, AnnotationFormat.Voc, alone);
                Assert.That(batch.AsSpan(i * alone.Length, alone.Length).SequenceEqual(alone), $"{flavor} image {i}");
                Assert.That(truths[i].Boxes, Is.EqualTo(truth.Boxes));
            }
        }
    }

    [Test]
    public void EachFlavourTrainsOnTheObjectsItsLoaderKeeps()
    {
        Annotation[] objects = [new(2, 2, 8, 8, 1), new(3, 3, 9, 9, 2, Difficult: true), new(1, 4, 6, 9, 3, Crowd: true)];
        int[] Labels(ModelFlavor f) => TrainingInput.Truth(f, Spec(f), 10, 10, objects, AnnotationFormat.Voc).Labels;
        Assert.That(Labels(ModelFlavor.Torchvision), Is.EqualTo(new[] { 1, 2 }), "torchvision drops crowd boxes");
        Assert.That(Labels(ModelFlavor.SsdPytorch), Is.EqualTo(new[] { 1, 3 }), "ssd.pytorch drops difficult ones");
        Assert.That(Labels(ModelFlavor.Caffe), Is.EqualTo(new[] { 1, 2, 3 }), "Caffe keeps both");
    }

    [Test]
    public void BrokenAnnotationsAreRefusedWithTheirReason()
    {
        Assert.That(() => TrainingInput.Truth(ModelFlavor.Caffe, CaffeSpec, 10, 10, [new Annotation(double.NaN, 0, 5, 5, 1)], AnnotationFormat.Voc),
            Throws.ArgumentException.With.Message.Contains("not finite"));
        Assert.That(() => TrainingInput.Truth(ModelFlavor.Torchvision, TorchvisionSpec, 10, 10, [new Annotation(1, 1, -3, 5, 1)], AnnotationFormat.Coco),
            Throws.ArgumentException.With.Message.Contains("negative width"));
        Assert.That(() => TrainingInput.Truth(ModelFlavor.Torchvision, TorchvisionSpec, 0, 10, [], AnnotationFormat.Coco), Throws.ArgumentException);
        // A box the flavour keeps but that has no area reaches the loss, which names it.
        var truth = TrainingInput.Truth(ModelFlavor.SsdPytorch, SsdPytorchSpec, 10, 10, [new Annotation(5, 5, 5, 8, 1)], AnnotationFormat.Voc);
        Assert.That(() => truth.Validate(21, 3), Throws.ArgumentException.With.Message.Contains("image 3, object 0").And.Message.Contains("no area"));
    }

    [Test]
    public void FloatResizeMatchesTheByteResizeOnWholeValuedPixels()
    {
        // Independent of the fixtures: a constant image stays constant under both of OpenCV's paths, and the float
        // path's output on an 8-bit image is within 1 of the fixed-point uint8 path (which rounds to integers).
        var img = SyntheticImage.Create(97, 61, 4);
        var floats = img.Select(b => (float)b).ToArray();
        foreach (var (dw, dh) in new[] { (300, 300), (48, 30), (194, 122), (97, 61) })
        {
            var f = OpenCvFloatResize.Resize(floats, 97, 61, 3, dw, dh);
            var b = PreprocessReference.ResizeOpenCv(img, 97, 61, dw, dh);
            for (int i = 0; i < b.Length; i++)
                Assert.That(Math.Abs(f[i] - b[i]), Is.LessThanOrEqualTo(1.0f), $"{dw}x{dh}: value {i}");
        }
        var flat = Enumerable.Repeat(77f, 3 * 20 * 10).ToArray();
        Assert.That(OpenCvFloatResize.Resize(flat, 20, 10, 3, 10, 5).All(v => v == 77f), "an exact halving of a flat image");
        Assert.That(OpenCvFloatResize.Resize(flat, 20, 10, 3, 33, 7).All(v => Math.Abs(v - 77f) < 1e-4f), "a flat image");
    }
}
