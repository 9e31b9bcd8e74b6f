using ILGPU.Runtime;
using Ssd.Kernels.Core;
using Ssd.Kernels.Softmax;
using System.Text.Json;
using Ssd.Tests.Fixtures;

namespace Ssd.Tests.Kernels.Softmax;

public class SoftmaxTests
{
    [Test]
    public void RowsMatchReferenceOnCpuSim()
    {
        // Batch 2 x 37 boxes x 21 classes, with logits large enough that exp without the max shift would overflow.
        int rows = 2 * 37, classes = 21;
        var x = TestData.Uniform(21, rows * classes, -100f, 100f);
        CompareRows(TestDevices.CpuSim, rows, classes, x);
    }

    [Test]
    public void ChannelsMatchReferenceOnCpuSim()
    {
        var shape = new TensorShape(2, 5, 3, 7);
        var x = TestData.Uniform(5, shape.Count, -5f, 5f);
        var expected = new float[x.Length];
        SoftmaxReference.Forward(shape.N, shape.C, shape.PlaneSize, x, expected);
        var device = TestDevices.CpuSim;
        using var xb = device.Upload(x);
        using var yb = device.Allocate(x.Length);
        new SoftmaxOp(device).Channels(shape, xb.View, yb.View);
        TestData.AssertClose(yb.GetAsArray1D(), expected, 1e-6f, 1e-7f, "channel softmax on CpuSim");
    }

    [Test]
    public void SsdConfidencesOnOpenCL()
    {
        // SSD300: 8732 default boxes x 21 VOC classes, batch 2.
        int rows = 2 * 8732, classes = 21;
        var x = TestData.Uniform(8732, rows * classes, -20f, 20f);
        CompareRows(TestDevices.OpenCL, rows, classes, x);
    }

    [Test]
    public void ReferenceHandWorked()
    {
        // Row (0, ln 3): exp gives (1, 3), sum 4 -> (0.25, 0.75). Shifting a row leaves it unchanged: (1000, 1000 + ln 3).
        var y = new float[4];
        SoftmaxReference.Rows(2, 2, [0f, MathF.Log(3f), 1000f, 1000f + MathF.Log(3f)], y);
        TestData.AssertClose(y, [0.25f, 0.75f, 0.25f, 0.75f], 1e-4f, 0, "softmax");
        // Channel softmax over [1, 2, 1, 2]: pixels are independent columns.
        SoftmaxReference.Forward(1, 2, 2, [0f, 5f, 0f, 5f], y);
        TestData.AssertClose(y, [0.5f, 0.5f, 0.5f, 0.5f], 0, 0, "channel softmax");
    }

    [Test]
    public void WorksInPlaceAndRefusesBadShapes()
    {
        var device = TestDevices.CpuSim;
        var x = TestData.Uniform(3, 6 * 4, -3f, 3f);
        var expected = new float[x.Length];
        SoftmaxReference.Rows(6, 4, x, expected);
        using var xb = device.Upload(x);
        var op = new SoftmaxOp(device);
        op.Rows(6, 4, xb.View, xb.View);
        TestData.AssertClose(xb.GetAsArray1D(), expected, 1e-6f, 1e-7f, "in place");
        Assert.Throws<ArgumentException>(() => op.Rows(5, 4, xb.View, xb.View));
        Assert.Throws<ArgumentException>(() => op.Rows(6, 0, xb.View, xb.View));
        Assert.Throws<ArgumentException>(() => SoftmaxReference.Rows(6, 4, x, new float[5]));
    }

    // ---- PyTorch's own numbers (tools/fixtures/make_softmax_fixture.py) ----

    [TestCaseSource(typeof(TestDevices), nameof(TestDevices.Backends))]
    public void MatchesTorchFixture(BackendKind backend)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(FixtureFiles.Path("softmax_torch.json")));
        var root = doc.RootElement;
        float[] Floats(string name) => root.GetProperty(name).EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        int[] Ints(string name) => root.GetProperty(name).EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var device = TestDevices.Get(backend);
        var op = new SoftmaxOp(device);

        var r = Ints("rows_shape");
        int rows = r[0] * r[1], classes = r[2];
        Check("rows", Floats("rows"), Floats("rows_softmax"), (x, y) => SoftmaxReference.Rows(rows, classes, x, y), (x, y) => op.Rows(rows, classes, x, y));

        var c = Ints("channels_shape");
        var shape = new TensorShape(c[0], c[1], c[2], c[3]);
        Check("channels", Floats("channels"), Floats("channels_softmax"), (x, y) => SoftmaxReference.Forward(shape.N, shape.C, shape.PlaneSize, x, y), (x, y) => op.Channels(shape, x, y));

        void Check(string what, float[] x, float[] expected, SpanAction reference, Action<ILGPU.ArrayView<float>, ILGPU.ArrayView<float>> kernel)
        {
            var y = new float[x.Length];
            reference(x, y);
            TestData.AssertClose(y, expected, 1e-5f, 1e-7f, $"{what} reference vs torch");
            using var xb = device.Upload(x);
            using var yb = device.Allocate(x.Length);
            kernel(xb.View, yb.View);
            TestData.AssertClose(yb.GetAsArray1D(), expected, 1e-5f, 1e-7f, $"{what} on {backend} vs torch");
        }
    }

    private delegate void SpanAction(ReadOnlySpan<float> x, Span<float> y);

    private static void CompareRows(ComputeDevice device, int rows, int classes, float[] x)
    {
        var expected = new float[x.Length];
        SoftmaxReference.Rows(rows, classes, x, expected);
        using var xb = device.Upload(x);
        using var yb = device.Allocate(x.Length);
        new SoftmaxOp(device).Rows(rows, classes, xb.View, yb.View);
        var actual = yb.GetAsArray1D();
        // exp may differ from MathF.Exp by an ulp or two on a backend.
        TestData.AssertClose(actual, expected, 1e-5f, 1e-7f, $"softmax {rows}x{classes} on {device.Kind}");
        for (int r = 0; r < rows; r += Math.Max(1, rows / 50))
            Assert.That(actual.AsSpan(r * classes, classes).ToArray().Sum(), Is.EqualTo(1f).Within(1e-5f), $"row {r} sums to 1");
    }
}
