using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Layout;

namespace Ssd.Tests.Kernels.Layout;

public class LayoutTests
{
    private static readonly int[][] Orders =
    [
        [0, 2, 3, 1], // NCHW -> NHWC, the SSD heads
        [0, 3, 1, 2], // NHWC -> NCHW
        [3, 2, 1, 0],
        [1, 0, 2, 3],
        [0, 1, 2, 3],
    ];

    [TestCaseSource(nameof(Orders))]
    public void PermuteMatchesReferenceOnCpuSim(int[] order)
    {
        int[] dims = [2, 3, 5, 7];
        var x = TestData.Uniform(1, 2 * 3 * 5 * 7);
        var expected = new float[x.Length];
        LayoutReference.Permute(dims, order, x, expected);
        var device = TestDevices.CpuSim;
        using var xb = device.Upload(x);
        using var yb = device.Allocate(x.Length);
        new LayoutOp(device).Permute(dims, order, xb.View, yb.View);
        TestData.AssertClose(yb.GetAsArray1D(), expected, 0, 0, $"permute {string.Join("", order)}");
    }

    [Test]
    public void PermuteReferenceIsATranspose()
    {
        // Independent check by coordinates: NCHW -> NHWC puts x[n,c,h,w] at y[n,h,w,c].
        int[] dims = [2, 3, 4, 5];
        var x = Enumerable.Range(0, 120).Select(i => (float)i).ToArray();
        var y = new float[120];
        LayoutReference.Permute(dims, PermuteGeometry.NchwToNhwc, x, y);
        for (int n = 0; n < 2; n++)
        for (int c = 0; c < 3; c++)
        for (int h = 0; h < 4; h++)
        for (int w = 0; w < 5; w++)
            Assert.That(y[((n * 4 + h) * 5 + w) * 3 + c], Is.EqualTo(x[((n * 3 + c) * 4 + h) * 5 + w]));
        Assert.That(PermuteGeometry.Create(dims, PermuteGeometry.NchwToNhwc).OutputDims, Is.EqualTo(new[] { 2, 4, 5, 3 }));
    }

    [Test]
    public void ConcatRowsMatchesReferenceOnCpuSim()
    {
        // Batch 2 flattened head outputs of different lengths (odd ones included).
        int rows = 2;
        float[][] inputs = [TestData.Uniform(1, rows * 12), TestData.Uniform(2, rows * 5), TestData.Uniform(3, rows * 1), TestData.Uniform(4, rows * 9)];
        int total = inputs.Sum(a => a.Length);
        var expected = new float[total];
        LayoutReference.ConcatRows(rows, inputs, expected);
        // Independent check: row r of the output is row r of every input, one after another.
        var byHand = Enumerable.Range(0, rows).SelectMany(r => inputs.SelectMany(a => a.Skip(r * (a.Length / rows)).Take(a.Length / rows))).ToArray();
        Assert.That(expected, Is.EqualTo(byHand));

        var device = TestDevices.CpuSim;
        var buffers = inputs.Select(a => device.Upload(a)).ToList();
        try
        {
            using var yb = device.Allocate(total);
            new LayoutOp(device).ConcatRows(rows, buffers.Select(b => (ArrayView<float>)b.View).ToList(), yb.View);
            TestData.AssertClose(yb.GetAsArray1D(), expected, 0, 0, "concat rows");
        }
        finally { buffers.ForEach(b => b.Dispose()); }
    }

    [Test]
    public void ConcatChannelsOnCpuSim()
    {
        // NCHW channel concat of [2,3,4,5] and [2,2,4,5]: y[n, c] is a[n, c] for c < 3, else b[n, c - 3].
        var a = TestData.Uniform(5, 2 * 3 * 20);
        var b = TestData.Uniform(6, 2 * 2 * 20);
        var device = TestDevices.CpuSim;
        using var ab = device.Upload(a);
        using var bb = device.Upload(b);
        using var yb = device.Allocate(a.Length + b.Length);
        new LayoutOp(device).Concat([[2, 3, 4, 5], [2, 2, 4, 5]], 1, [ab.View, bb.View], yb.View);
        var y = yb.GetAsArray1D();
        for (int n = 0; n < 2; n++)
        for (int c = 0; c < 5; c++)
        for (int p = 0; p < 20; p++)
            Assert.That(y[(n * 5 + c) * 20 + p], Is.EqualTo(c < 3 ? a[(n * 3 + c) * 20 + p] : b[(n * 2 + c - 3) * 20 + p]), $"n{n} c{c} p{p}");
    }

    [Test]
    public void SsdHeadOnOpenCL()
    {
        // SSD300 conf head on conv4_3: [1, 4*21, 38, 38] -> NHWC -> flatten, then concat with a second head.
        var device = TestDevices.OpenCL;
        int[] dims = [1, 84, 38, 38];
        var x = TestData.Uniform(38, 84 * 38 * 38);
        var permuted = new float[x.Length];
        LayoutReference.Permute(dims, PermuteGeometry.NchwToNhwc, x, permuted);
        var other = TestData.Uniform(19, 126 * 19 * 19);
        var expected = new float[x.Length + other.Length];
        LayoutReference.ConcatRows(1, [permuted, other], expected);

        var op = new LayoutOp(device);
        using var xb = device.Upload(x);
        using var pb = device.Allocate(x.Length);
        using var ob = device.Upload(other);
        using var yb = device.Allocate(expected.Length);
        op.Permute(dims, PermuteGeometry.NchwToNhwc, xb.View, pb.View);
        TestData.AssertClose(pb.GetAsArray1D(), permuted, 0, 0, "permute on OpenCL");
        op.ConcatRows(1, [pb.View, ob.View], yb.View);
        TestData.AssertClose(yb.GetAsArray1D(), expected, 0, 0, "concat on OpenCL");
    }

    [Test]
    public void FlattenIsAShapeOnly()
    {
        Assert.That(Flatten.Shape([2, 38, 38, 84]), Is.EqualTo(new[] { 2, 38 * 38 * 84 }));
        Assert.That(Flatten.Shape([2, 3, 4, 5], 2), Is.EqualTo(new[] { 2, 3, 20 }));
        Assert.Throws<ArgumentException>(() => Flatten.Shape([2, 3], 2));
    }

    [Test]
    public void BadInputIsRefused()
    {
        Assert.Throws<ArgumentException>(() => PermuteGeometry.Create([1, 2, 3, 4], [0, 1, 1, 2]));
        Assert.Throws<ArgumentException>(() => PermuteGeometry.Create([1, 2, 3], [0, 1, 2]));
        Assert.Throws<ArgumentException>(() => PermuteGeometry.Create([1, 0, 3, 4], [0, 1, 2, 3]));
        Assert.Throws<ArgumentException>(() => LayoutReference.ConcatRows(2, [new float[3]], new float[3]));
        Assert.Throws<ArgumentException>(() => LayoutReference.ConcatRows(1, [new float[3]], new float[4]));
        var device = TestDevices.CpuSim;
        using var a = device.Allocate(24);
        using var b = device.Allocate(24);
        using var y = device.Allocate(48);
        var op = new LayoutOp(device);
        Assert.Throws<ArgumentException>(() => op.Concat([[1, 2, 3, 4], [1, 2, 4, 3]], 1, [a.View, b.View], y.View));
        Assert.Throws<ArgumentException>(() => op.Permute([1, 2, 3, 4], [0, 2, 3, 1], a.View, y.View));
    }
}
