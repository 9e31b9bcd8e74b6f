using System.Text.Json;
using Ssd.Engine.Training.Data;
using Ssd.Engine.Training.Data.Augment;
using Ssd.Engine.Training.Input;

namespace Ssd.Tests.Training.Data;

/// <summary>
/// ssd.pytorch's SSDAugmentation (transcribed there, its colours by cv2) likewise, to the float32 bit and the double box.
/// torchvision's SSD augmentation (its reference transforms on PIL images, tools/fixtures/make_augment_fixtures.py)
/// fed the draws of <see cref="DrawStream"/>: every step and the chain agree to the byte and to the float32 box.
/// </summary>
public class AugmentFixtureTests
{
    private const string Script = "make_augment_fixtures.py";
    private static readonly Lazy<FixtureBlob> Blob = new(() => FixtureBlob.Generated("augment", Script));

    private static IEnumerable<int> Cases() => Enumerable.Range(0, 30);

    [Test]
    public void DrawStreamIsNumpyPhilox()
    {
        var blob = Blob.Value;
        var keys = blob.Meta.GetProperty("philox_keys").EnumerateArray().ToArray();
        Assert.That(keys, Is.Not.Empty);
        for (int k = 0; k < keys.Length; k++)
        {
            var key = keys[k].EnumerateArray().Select(e => ulong.Parse(e.GetString()!)).ToArray();
            var draws = new DrawStream(key[0], DrawPurpose.Augment, key[2], key[1]);
            var expected = blob.UInt64($"philox{k}");
            var actual = expected.Select(_ => draws.NextUInt64()).ToArray();
            Assert.That(actual, Is.EqualTo(expected), $"stream (seed, epoch, index) = ({key[0]}, {key[1]}, {key[2]})");
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void EveryStepAndTheChainEqualTorchvision(int c)
    {
        var blob = Blob.Value;
        var meta = blob.Meta.GetProperty("cases")[c];
        long seed = meta.GetProperty("seed").GetInt64(), epoch = meta.GetProperty("epoch").GetInt64(), index = meta.GetProperty("index").GetInt64();
        var shape = blob.Shape($"case{c}/image");
        var image = new RgbPixels<byte>(shape[1], shape[0], blob.UInt8($"case{c}/image"));
        var objects = new LabelledBoxes(Array.ConvertAll(blob.Floats($"case{c}/boxes"), v => (double)v), blob.Ints($"case{c}/labels"));
        var o = TorchvisionAugment.Default;
        foreach (var step in blob.Meta.GetProperty("steps").EnumerateArray().Select(s => s.GetString()!))
        {
            var draws = DrawStream.ForImage(seed, epoch, index);
            var img = new RgbPixels<byte>(image.Width, image.Height, (byte[])image.Pixels.Clone());
            (RgbPixels<byte> Image, LabelledBoxes Objects) result = step switch
            {
                "photometric" => Photometric(img, objects, draws, o),
                "zoom" => TorchvisionAugment.ZoomOut(img, objects, draws, o),
                "crop" => TorchvisionAugment.IoUCrop(img, objects, draws, o),
                "flip" => (img, TorchvisionAugment.HorizontalFlip(img, objects, draws, o)),
                "chain" => TorchvisionAugment.Apply(img, objects, draws, o),
                _ => throw new InvalidOperationException($"unknown step {step}"),
            };
            string at = $"case {c} ({image.Width}x{image.Height}, {objects.Count} boxes), step {step}";
            var outShape = blob.Shape($"case{c}/{step}/image");
            Assert.That((result.Image.Width, result.Image.Height), Is.EqualTo((outShape[1], outShape[0])), at + ": size");
            var expected = blob.UInt8($"case{c}/{step}/image");
            int differ = expected.Where((v, i) => v != result.Image.Pixels[i]).Count();
            Assert.That(differ, Is.Zero, at + $": {differ} of {expected.Length} bytes differ");
            Assert.That(result.Objects.Labels, Is.EqualTo(blob.Ints($"case{c}/{step}/labels")), at + ": labels");
            Assert.That(Array.ConvertAll(result.Objects.Corners, v => (float)v), Is.EqualTo(blob.Floats($"case{c}/{step}/boxes")), at + ": boxes");
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void SsdPytorchPhotometricDistortionAndChainEqualItsAugmentations(int c)
    {
        var blob = Blob.Value;
        var meta = blob.Meta.GetProperty("cases")[c];
        long seed = meta.GetProperty("seed").GetInt64(), epoch = meta.GetProperty("epoch").GetInt64(), index = meta.GetProperty("index").GetInt64();
        var shape = blob.Shape($"case{c}/image");
        var bytes = blob.UInt8($"case{c}/image");
        var objects = new LabelledBoxes(Array.ConvertAll(blob.Floats($"case{c}/boxes"), v => (double)v), blob.Ints($"case{c}/labels"));
        foreach (var step in new[] { "photometric", "chain" })
        {
            var image = RgbPixels.ToFloat(new Ssd.Engine.Imaging.RgbImage(shape[1], shape[0], bytes));
            var draws = DrawStream.ForImage(seed, epoch, index);
            (RgbPixels<float> Image, LabelledBoxes Objects) result = step == "chain"
                ? SsdPytorchAugment.Apply(image, objects, draws)
                : Photometric(image, objects, draws);
            string at = $"case {c} ({shape[1]}x{shape[0]}, {objects.Count} boxes), ssd.pytorch {step}";
            var outShape = blob.Shape($"case{c}/ssd_pytorch/{step}/image");
            Assert.That((result.Image.Width, result.Image.Height), Is.EqualTo((outShape[1], outShape[0])), at + ": size");
            var expected = blob.Floats($"case{c}/ssd_pytorch/{step}/image");
            int differ = expected.Where((v, i) => BitConverter.SingleToInt32Bits(v) != BitConverter.SingleToInt32Bits(result.Image.Pixels[i])).Count();
            double worst = expected.Select((v, i) => Math.Abs(v - result.Image.Pixels[i])).DefaultIfEmpty(0).Max();
            Assert.That(differ, Is.Zero, at + $": {differ} of {expected.Length} floats differ (worst by {worst})");
            Assert.That(result.Objects.Labels, Is.EqualTo(blob.Ints($"case{c}/ssd_pytorch/{step}/labels")), at + ": labels");
            Assert.That(result.Objects.Corners, Is.EqualTo(blob.Doubles($"case{c}/ssd_pytorch/{step}/boxes")), at + ": boxes");
        }
    }

    private static (RgbPixels<float>, LabelledBoxes) Photometric(RgbPixels<float> image, LabelledBoxes objects, DrawStream draws)
    {
        SsdPytorchAugment.PhotometricDistort(image, draws);
        return (image, objects);
    }

    private static (RgbPixels<byte>, LabelledBoxes) Photometric(RgbPixels<byte> image, LabelledBoxes objects, DrawStream draws, TorchvisionAugment.Options o)
    {
        TorchvisionAugment.PhotometricDistort(image, draws, o);
        return (image, objects);
    }
}
