using Ssd.Engine.Backends;
using Ssd.Engine.Backends.Cpu;
using Ssd.Kernels.Cpu;
using Ssd.Engine.Backends.Ilgpu;
using Ssd.Tests.Fixtures;

namespace Ssd.Tests.Engine;

/// <summary>Helpers shared by the engine tests: the portable input generator of the fixture scripts, fixture
/// readers, backends by name and the relative-error measure.</summary>
public static class NetworkFixtures
{
    /// <summary>The LCG of tools/fixtures/make_network_fixtures.py: lo + (hi - lo) * (state >> 8) / 2^24.</summary>
    public static float[] PortableInput(uint seed, int count, double lo = -2, double hi = 2)
    {
        var a = new float[count];
        uint state = seed;
        for (int i = 0; i < count; i++)
        {
            state = unchecked(state * 1664525u + 1013904223u);
            a[i] = (float)(lo + (hi - lo) * ((state >> 8) / 16777216.0));
        }
        return a;
    }

    public static string Network(string name) => FixtureFiles.Path(Path.Combine("network", name));

    public static float[] ReadFloats(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var a = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, a, 0, bytes.Length);
        return a;
    }

    /// <summary>The managed CPU backend and every test device (<see cref="TestDevices.DeviceNames"/>: OpenCL, and CUDA
    /// when the run asks for it).</summary>
    public static string[] BackendNames => ["cpu", .. TestDevices.DeviceNames];

    public static IBackend Backend(string name) => name == "cpu" ? new CpuBackend() : new IlgpuBackend(TestDevices.Device(name));

    /// <summary>max |a - e| / max(|e|, floor) over all elements: relative error with a floor so values near zero
    /// are judged against the tensor's scale (floor = 0.1 * max |e|; with the 1e-4 tolerance this is torch.allclose's
    /// rtol 1e-4 with an atol of 1e-5 of the tensor's largest value). Float32 sums in another order than torch's (the
    /// SIMD GEMM, Winograd, the GPU tiles) differ by a few ulps of the large terms, which a floor of 1% would
    /// magnify past 1e-4 on values near zero after twenty layers.</summary>
    public static double MaxRelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), "length");
        double scale = 0;
        foreach (var e in expected) scale = Math.Max(scale, Math.Abs(e));
        double floor = Math.Max(1e-1 * scale, 1e-12), worst = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double err = Math.Abs((double)actual[i] - expected[i]) / Math.Max(Math.Abs(expected[i]), floor);
            if (double.IsNaN(err)) return double.NaN;
            worst = Math.Max(worst, err);
        }
        return worst;
    }

    public static void AssertRelative(string what, ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double tolerance = 1e-4)
    {
        double err = MaxRelativeError(actual, expected);
        TestContext.Out.WriteLine($"{what}: max relative error {err:E2}");
        Assert.That(err, Is.LessThanOrEqualTo(tolerance), $"{what}: max relative error {err:E3}");
    }

    /// <summary>Softmax over the last axis of [rows, classes], in double: the independent check of the conf output.</summary>
    public static float[] Softmax(float[] logits, int classes)
    {
        var y = new float[logits.Length];
        for (int r = 0; r < logits.Length / classes; r++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int k = 0; k < classes; k++) max = Math.Max(max, logits[r * classes + k]);
            for (int k = 0; k < classes; k++) sum += Math.Exp(logits[r * classes + k] - max);
            for (int k = 0; k < classes; k++) y[r * classes + k] = (float)(Math.Exp(logits[r * classes + k] - max) / sum);
        }
        return y;
    }
}
