using ILGPU.Runtime;
using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;
using Ssd.Kernels.Eltwise;
using Ssd.Tests.Kernels.Backward;

namespace Ssd.Tests.Kernels.Eltwise;

/// <summary>
/// Eltwise's backward variants (SIMD with every ISA level forced; ILGPU on the CPU simulator and PoCL) against
/// <see cref="EltwiseBackwardReference"/>, bit for bit, on data with ties, zeros, NaN and infinities and on the
/// torch fixtures' tensors.
/// </summary>
public class EltwiseBackwardVariantTests
{
    public static IEnumerable<TestCaseData> Cases() =>
        from op in new[] { "sum", "weighted sum", "prod", "max" }
        from k in new[] { 2, 3, 4 }
        select new TestCaseData(op, k).SetArgDisplayNames(op, $"{k} inputs");

    private static float[][] Inputs(int k, int count, int seed)
    {
        var xs = Enumerable.Range(0, k).Select(i => CpuVariants.Spiky(seed + i, count)).ToArray();
        // Ties between inputs decide the max's mask.
        for (int i = 0; i < count; i += 7) xs[1][i] = xs[0][i];
        for (int i = 3; i < count && k > 2; i += 11) xs[2][i] = xs[1][i];
        return xs;
    }

    private static float[][] Reference(string op, float[][] xs, float[] coefficients, float[] dy)
    {
        var dxs = xs.Select(x => new float[x.Length]).ToArray();
        switch (op)
        {
            case "prod": EltwiseBackwardReference.ProductBackward(xs, dy, dxs); break;
            case "max": EltwiseBackwardReference.MaxBackward(xs, dy, dxs); break;
            default: EltwiseBackwardReference.SumBackward(coefficients, dy, dxs); break;
        }
        return dxs;
    }

    private static float[] Coefficients(string op, int k) => op == "weighted sum" ? [.. Enumerable.Range(0, k).Select(i => i == 1 ? 1f : 0.5f - i)] : [];

    [TestCaseSource(nameof(Cases))]
    public void SimdMatchesReferenceBitForBit(string op, int k)
    {
        const int count = 40_003;
        var xs = Inputs(k, count, 11);
        var dy = CpuVariants.Spiky(99, count);
        var coefficients = Coefficients(op, k);
        var expected = Reference(op, xs, coefficients, dy);
        // The arena layout the engine uses: inputs and gradients as slices of one buffer each.
        var source = xs.SelectMany(x => x).ToArray();
        int[] offsets = [.. Enumerable.Range(0, k).Select(i => i * count)];
        foreach (var isa in CpuVariants.Isas.Where(CpuIsaSupport.IsSupported))
        {
            var target = new float[k * count];
            var options = new CpuOpOptions(isa, 2);
            switch (op)
            {
                case "prod": EltwiseBackwardSimd.ProductBackward(source, offsets, dy, target, offsets, options); break;
                case "max": EltwiseBackwardSimd.MaxBackward(source, offsets, dy, target, offsets, options); break;
                default: EltwiseBackwardSimd.SumBackward(coefficients, dy, target, offsets, options); break;
            }
            for (int i = 0; i < k; i++) CpuVariants.AssertBits(target.AsSpan(i * count, count), expected[i], $"{op} {isa}: dx{i}");
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void KernelsMatchReferenceBitForBit(string op, int k)
    {
        foreach (var backend in TestDevices.Backends)
        {
            int count = backend == BackendKind.CpuSim ? 257 : 40_003;
            var xs = Inputs(k, count, 21);
            var dy = CpuVariants.Spiky(98, count);
            var coefficients = Coefficients(op, k);
            var actual = OnDevice(TestDevices.Get(backend), op, xs, coefficients, dy);
            var expected = Reference(op, xs, coefficients, dy);
            for (int i = 0; i < k; i++) CpuVariants.AssertBits(actual[i], expected[i], $"{op} on {backend}: dx{i}");
        }
    }

    [TestCase("eltwise_sum")]
    [TestCase("eltwise_prod")]
    [TestCase("eltwise_max")]
    public void FixturesOnOpenCL(string name)
    {
        var f = BackwardFixtures.Case(name);
        int k = f.Int("inputs");
        var xs = Enumerable.Range(0, k).Select(i => f.F($"x{i}")).ToArray();
        var op = f.Json.GetProperty("operation").GetString()!;
        float[] coefficients = op == "sum" ? [.. f.Json.GetProperty("coeffs").EnumerateArray().Select(c => c.GetSingle())] : [];
        if (op == "sum") op = "weighted sum";
        var expected = Reference(op, xs, coefficients, f.F("dy"));
        var actual = OnDevice(TestDevices.OpenCL, op, xs, coefficients, f.F("dy"));
        for (int i = 0; i < k; i++) CpuVariants.AssertBits(actual[i], expected[i], $"{name}: dx{i}");
    }

    private static float[][] OnDevice(ComputeDevice device, string op, float[][] xs, float[] coefficients, float[] dy)
    {
        var inputs = xs.Select(x => device.Upload(x)).ToArray();
        var grads = xs.Select(x => device.Allocate(x.Length)).ToArray();
        using var bdy = device.Upload(dy);
        try
        {
            using var e = new EltwiseBackwardOp(device);
            var iv = inputs.Select(b => b.View.BaseView).ToArray();
            var gv = grads.Select(b => b.View.BaseView).ToArray();
            switch (op)
            {
                case "prod": e.ProductBackward(iv, bdy.View, gv); break;
                case "max": e.MaxBackward(iv, bdy.View, gv); break;
                default: e.SumBackward(coefficients, bdy.View, gv); break;
            }
            device.Synchronize();
            return grads.Select(b => b.GetAsArray1D()).ToArray();
        }
        finally
        {
            foreach (var b in inputs.Concat(grads)) b.Dispose();
        }
    }
}
