using System.Text.Json;
using ILGPU.Runtime;
using Ssd.Kernels.Core;
using Ssd.Kernels.L2Norm;
using Ssd.Tests.Fixtures;

namespace Ssd.Tests.Kernels.L2Norm;

public class L2NormTests
{
    public static IEnumerable<TestCaseData> SmallCases()
    {
        foreach (var mode in Enum.GetValues<L2NormEpsilon>())
        {
            yield return new TestCaseData(mode, true);
            yield return new TestCaseData(mode, false);
        }
    }

    [TestCaseSource(nameof(SmallCases))]
    public void MatchesReferenceOnCpuSim(L2NormEpsilon mode, bool channelShared)
    {
        var shape = new TensorShape(2, 7, 5, 3);
        Compare(TestDevices.CpuSim, shape, mode, channelShared ? 1 : shape.C, seed: 11 + (int)mode);
    }

    [Test]
    public void Conv43OnOpenCL()
    {
        // SSD300's conv4_3: 512x38x38, one learned scale per channel (initialised to 20).
        var shape = new TensorShape(1, 512, 38, 38);
        Compare(TestDevices.OpenCL, shape, L2NormEpsilon.InsideSqrt, shape.C, seed: 43);
        Compare(TestDevices.OpenCL, shape, L2NormEpsilon.AfterSqrt, 1, seed: 44);
    }

    [Test]
    public void ReferenceHandWorked()
    {
        // One pixel, channels (3, 4): ||x|| = 5. Scale 2: (3, 4) / 5 * 2 = (1.2, 1.6) in every mode (eps negligible).
        foreach (var mode in Enum.GetValues<L2NormEpsilon>())
        {
            var y = new float[2];
            L2NormReference.Forward(1, 2, 1, 1, [3f, 4f], [2f], mode, 1e-10f, y);
            TestData.AssertClose(y, [1.2f, 1.6f], 1e-7f, 0, $"{mode}");
        }
        // Tiny pixel (3e-6, 4e-6): sum = 2.5e-11, eps = 1e-10.
        var t = new float[2];
        L2NormReference.Forward(1, 2, 1, 1, [3e-6f, 4e-6f], [1f], L2NormEpsilon.InsideSqrt, 1e-10f, t);
        TestData.AssertClose(t, [3e-6f / MathF.Sqrt(1.25e-10f), 4e-6f / MathF.Sqrt(1.25e-10f)], 1e-6f, 0, "inside sqrt: / sqrt(2.5e-11 + 1e-10)");
        L2NormReference.Forward(1, 2, 1, 1, [3e-6f, 4e-6f], [1f], L2NormEpsilon.AfterSqrt, 1e-10f, t);
        TestData.AssertClose(t, [3e-6f / 5.0001e-6f, 4e-6f / 5.0001e-6f], 1e-6f, 0, "after sqrt: / (5e-6 + 1e-10)");
        L2NormReference.Forward(1, 2, 1, 1, [3e-6f, 4e-6f], [1f], L2NormEpsilon.ClampMin, 1e-5f, t);
        TestData.AssertClose(t, [0.3f, 0.4f], 1e-6f, 0, "clamp: / max(5e-6, 1e-5)");
    }

    [Test]
    public void BadInputIsRefused()
    {
        var y = new float[6];
        Assert.Throws<ArgumentException>(() => L2NormReference.Forward(1, 3, 1, 2, new float[6], new float[2], L2NormEpsilon.InsideSqrt, 1e-10f, y));
        Assert.Throws<ArgumentException>(() => L2NormReference.Forward(1, 3, 1, 2, new float[5], new float[3], L2NormEpsilon.InsideSqrt, 1e-10f, y));
        var device = TestDevices.CpuSim;
        using var xb = device.Allocate(6);
        using var sb = device.Allocate(3);
        Assert.Throws<ArgumentException>(() => new L2NormOp(device).Forward(new TensorShape(1, 3, 1, 2), xb.View, sb.View, L2NormEpsilon.InsideSqrt, float.NaN, xb.View));
    }

    // ---- PyTorch's own numbers (tools/fixtures/make_l2norm_fixture.py) ----

    [TestCase("ssd_pytorch", L2NormEpsilon.AfterSqrt, L2NormDefaults.SsdPytorchEps)]
    [TestCase("torchvision", L2NormEpsilon.ClampMin, L2NormDefaults.TorchvisionEps)]
    public void MatchesTorchFixture(string flavour, L2NormEpsilon mode, float eps)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(FixtureFiles.Path("l2norm_torch.json")));
        var root = doc.RootElement;
        var s = root.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var shape = new TensorShape(s[0], s[1], s[2], s[3]);
        float[] Floats(string name) => root.GetProperty(name).EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        var x = Floats("input");
        var scale = Floats("scale");
        var expected = Floats(flavour);

        var reference = new float[x.Length];
        L2NormReference.Forward(shape.N, shape.C, shape.H, shape.W, x, scale, mode, eps, reference);
        TestData.AssertClose(reference, expected, 1e-6f, 0, $"{flavour} reference");

        // The other placements of epsilon give visibly different answers on the fixture's tiny pixel.
        foreach (var other in Enum.GetValues<L2NormEpsilon>().Where(m => m != mode))
        {
            var wrong = new float[x.Length];
            L2NormReference.Forward(shape.N, shape.C, shape.H, shape.W, x, scale, other, eps, wrong);
            Assert.That(wrong.Zip(expected).Any(p => MathF.Abs(p.First - p.Second) > 1e-2f * MathF.Abs(p.Second)),
                $"{flavour}: mode {other} should not match the fixture");
        }

        foreach (var backend in new[] { BackendKind.CpuSim, BackendKind.OpenCL })
        {
            var device = TestDevices.Get(backend);
            using var xb = device.Upload(x);
            using var sb = device.Upload(scale);
            new L2NormOp(device).Forward(shape, xb.View, sb.View, mode, eps, xb.View); // in place
            TestData.AssertClose(xb.GetAsArray1D(), expected, 1e-6f, 0, $"{flavour} on {backend}");
        }
    }

    private static void Compare(ComputeDevice device, TensorShape shape, L2NormEpsilon mode, int scaleCount, int seed)
    {
        var x = TestData.Uniform(seed, shape.Count);
        var scale = TestData.Uniform(seed + 1, scaleCount, 5f, 25f);
        // Make one pixel tiny so that the epsilon placement matters.
        for (int k = 0; k < shape.C; k++) x[k * shape.PlaneSize] *= 1e-6f;
        var expected = new float[x.Length];
        L2NormReference.Forward(shape.N, shape.C, shape.H, shape.W, x, scale, mode, 1e-10f, expected);

        using var xb = device.Upload(x);
        using var sb = device.Upload(scale);
        using var yb = device.Allocate(x.Length);
        new L2NormOp(device).Forward(shape, xb.View, sb.View, mode, 1e-10f, yb.View);
        // Same summation order as the reference; a backend's sqrt or fused multiply-add may differ by an ulp or two.
        TestData.AssertClose(yb.GetAsArray1D(), expected, 2e-6f, 1e-7f, $"l2norm {mode} {shape} scales {scaleCount} on {device.Kind}");
    }
}
