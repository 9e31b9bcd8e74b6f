using Ssd.Kernels.BoxCoding;

namespace Ssd.Tests.PostProcessing;

public class BoxCodingTests
{
    // Two Caffe priors (xyxy normalised) and their variances.
    private static readonly float[] CaffePriors = [0.1f, 0.2f, 0.5f, 0.6f, 0.0f, 0.0f, 0.25f, 0.5f, 0.1f, 0.1f, 0.2f, 0.2f, 0.1f, 0.1f, 0.2f, 0.2f];

    [Test]
    public void ZeroOffsetsGiveThePriorsBack()
    {
        var outCaffe = new float[8];
        BoxCodingReference.Caffe(CaffePriors, new float[8], outCaffe);
        TestData.AssertClose(outCaffe, CaffePriors.AsSpan(0, 8), 0, 1e-7f, "caffe");

        float[] centreSize = [0.3f, 0.4f, 0.4f, 0.4f];
        var outPt = new float[4];
        BoxCodingReference.SsdPytorch(centreSize, new float[4], outPt);
        TestData.AssertClose(outPt, [0.1f, 0.2f, 0.5f, 0.6f], 0, 1e-7f, "ssd.pytorch");

        float[] anchors = [10f, 20f, 50f, 100f];
        var outTv = new float[4];
        BoxCodingReference.Torchvision(anchors, new float[4], outTv);
        TestData.AssertClose(outTv, anchors, 0, 0, "torchvision");
    }

    [Test]
    public void KnownShiftAndScale()
    {
        // Prior 0 is centre (0.3, 0.4), size 0.4 x 0.4. Offsets (1, -2, ln 2 / 0.2, 0): centre moves by
        // 0.1 * 1 * 0.4 = 0.04 and 0.1 * -2 * 0.4 = -0.08, width doubles.
        float[] loc = [1f, -2f, MathF.Log(2f) / 0.2f, 0f, 0, 0, 0, 0];
        var o = new float[8];
        BoxCodingReference.Caffe(CaffePriors, loc, o);
        TestData.AssertClose(o.AsSpan(0, 4), [0.34f - 0.4f, 0.32f - 0.2f, 0.34f + 0.4f, 0.32f + 0.2f], 0, 1e-6f, "caffe");

        var pt = new float[4];
        BoxCodingReference.SsdPytorch([0.3f, 0.4f, 0.4f, 0.4f], loc.AsSpan(0, 4), pt);
        TestData.AssertClose(pt, [0.34f - 0.4f, 0.32f - 0.2f, 0.34f + 0.4f, 0.32f + 0.2f], 0, 1e-6f, "ssd.pytorch");

        // torchvision: anchor 40 x 80 at centre (30, 60); codes (10, -5, 5 ln 3, 0) over weights (10, 10, 5, 5):
        // centre + (1 * 40, -0.5 * 80), width x3.
        var tv = new float[4];
        BoxCodingReference.Torchvision([10f, 20f, 50f, 100f], [10f, -5f, 5f * MathF.Log(3f), 0f], tv);
        TestData.AssertClose(tv, [70f - 60f, 20f - 40f, 70f + 60f, 20f + 40f], 1e-6f, 1e-4f, "torchvision");
    }

    [Test]
    public void TorchvisionClampFires()
    {
        // dw = 100 / 5 = 20 is clamped to log(1000/16): the width becomes 1000/16 times the anchor's.
        var tv = new float[4];
        BoxCodingReference.Torchvision([0f, 0f, 16f, 16f], [0f, 0f, 100f, 0f], tv);
        Assert.That(tv[2] - tv[0], Is.EqualTo(1000f).Within(0.01f));
        Assert.That(tv[3] - tv[1], Is.EqualTo(16f).Within(1e-5f));
    }

    [Test]
    public void MismatchedShapesAreRejected()
    {
        Assert.That(() => BoxCodingReference.SsdPytorch(new float[8], new float[12], new float[12]), Throws.ArgumentException.With.Message.Contains("location"));
        Assert.That(() => BoxCodingReference.Torchvision(new float[8], new float[8], new float[4]), Throws.ArgumentException.With.Message.Contains("output"));
    }
}
