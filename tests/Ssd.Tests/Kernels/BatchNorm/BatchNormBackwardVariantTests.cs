using ILGPU.Runtime;
using Ssd.Kernels.BatchNorm;
using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;
using Ssd.Tests.Kernels.Backward;

namespace Ssd.Tests.Kernels.BatchNorm;

/// <summary>
/// BatchNorm's and Scale's training variants (SIMD with every ISA level forced; ILGPU on the CPU simulator and PoCL)
/// against their references, on small shapes and the fixture's 2x64x75x75. Float sums against double ones: a bound
/// (Scale's dx is one multiply: bit for bit).
/// </summary>
public class BatchNormBackwardVariantTests
{
    public const double Bound = 1e-5;

    private sealed record Data(TensorShape S, float[] X, float[] Gamma, float[] Beta, float[] Dy);

    private static Data Small(int seed)
    {
        var s = new TensorShape(3, 5, 7, 6);
        var x = TestData.Uniform(seed, s.Count, -1f, 4f);
        return new Data(s, x, TestData.Uniform(seed + 1, s.C, 0.5f, 1.5f), TestData.Uniform(seed + 2, s.C, -0.5f, 0.5f), TestData.Uniform(seed + 3, s.Count));
    }

    private static Data Fixture()
    {
        var f = BackwardFixtures.Case("batch_norm");
        var sh = f.Shape("x");
        return new Data(new TensorShape(sh[0], sh[1], sh[2], sh[3]), f.F("x"), f.F("gamma"), f.F("beta"), f.F("dy"));
    }

    private sealed record Result(float[] Y, float[] Mean, float[] Var, float[] Inv, float[] Dx, float[] Dg, float[] Db, float[] DxGlobal);

    private static Result Reference(Data d, bool affine)
    {
        var (n, c, h, w) = (d.S.N, d.S.C, d.S.H, d.S.W);
        float[] g = affine ? d.Gamma : [], b = affine ? d.Beta : [];
        var r = new Result(new float[d.X.Length], new float[c], new float[c], new float[c], new float[d.X.Length], new float[g.Length], new float[g.Length],
            new float[d.X.Length]);
        BatchNormTrainingReference.Forward(n, c, h, w, d.X, g, b, 1e-5f, r.Y, r.Mean, r.Var, r.Inv);
        BatchNormBackwardReference.Backward(n, c, h, w, d.X, r.Mean, r.Inv, g, d.Dy, r.Dx, r.Dg, r.Db);
        BatchNormBackwardReference.BackwardGlobalStats(n, c, h, w, r.Var, 1e-5f, g, d.Dy, r.DxGlobal);
        return r;
    }

    private static void AssertClose(Result a, Result e, string what)
    {
        GradientAssert.Close(a.Y, e.Y, Bound, $"{what}: y");
        GradientAssert.Close(a.Mean, e.Mean, Bound, $"{what}: mean");
        GradientAssert.Close(a.Var, e.Var, Bound, $"{what}: variance");
        GradientAssert.Close(a.Inv, e.Inv, Bound, $"{what}: invstd");
        GradientAssert.Close(a.Dx, e.Dx, Bound, $"{what}: dx");
        GradientAssert.Close(a.Dg, e.Dg, Bound, $"{what}: dgamma");
        GradientAssert.Close(a.Db, e.Db, Bound, $"{what}: dbeta");
        GradientAssert.Close(a.DxGlobal, e.DxGlobal, Bound, $"{what}: dx with global statistics");
    }

    private static Result Simd(Data d, bool affine, CpuOpOptions options)
    {
        var (n, c, h, w) = (d.S.N, d.S.C, d.S.H, d.S.W);
        float[] g = affine ? d.Gamma : [], b = affine ? d.Beta : [];
        var r = new Result(new float[d.X.Length], new float[c], new float[c], new float[c], new float[d.X.Length], new float[g.Length], new float[g.Length],
            new float[d.X.Length]);
        BatchNormBackwardSimd.ForwardTraining(n, c, h, w, d.X, g, b, 1e-5f, r.Y, r.Mean, r.Var, r.Inv, options);
        BatchNormBackwardSimd.Backward(n, c, h, w, d.X, r.Mean, r.Inv, g, d.Dy, r.Dx, r.Dg, r.Db, options);
        BatchNormBackwardSimd.BackwardGlobalStats(n, c, h, w, r.Var, 1e-5f, g, d.Dy, r.DxGlobal, options);
        return r;
    }

    private static Result OnDevice(ComputeDevice device, Data d, bool affine)
    {
        int c = d.S.C;
        using var bx = device.Upload(d.X);
        using var bg = device.Upload(affine ? d.Gamma : [0f]);
        using var bb = device.Upload(affine ? d.Beta : [0f]);
        using var bdy = device.Upload(d.Dy);
        using var by = device.Allocate(d.X.Length);
        using var stats = device.Allocate(3L * c);
        using var bdx = device.Allocate(d.X.Length);
        using var bdx2 = device.Allocate(d.X.Length);
        using var bdg = device.Allocate(c);
        using var bdb = device.Allocate(c);
        var (mean, var, inv) = (stats.View.SubView(0, c), stats.View.SubView(c, c), stats.View.SubView(2 * c, c));
        var gamma = affine ? bg.View.BaseView : bg.View.BaseView.SubView(0, 0);
        var beta = affine ? bb.View.BaseView : bb.View.BaseView.SubView(0, 0);
        using var op = new BatchNormBackwardOp(device);
        op.ForwardTraining(d.S, bx.View, gamma, beta, 1e-5f, by.View, mean, var, inv);
        op.Backward(d.S, bx.View, mean, inv, gamma, bdy.View, bdx.View, affine ? bdg.View.BaseView : bdg.View.BaseView.SubView(0, 0),
            affine ? bdb.View.BaseView : bdb.View.BaseView.SubView(0, 0));
        op.BackwardGlobalStats(d.S, var, 1e-5f, gamma, bdy.View, bdx2.View);
        device.Synchronize();
        var s = stats.GetAsArray1D();
        return new Result(by.GetAsArray1D(), s[..c], s[c..(2 * c)], s[(2 * c)..], bdx.GetAsArray1D(),
            affine ? bdg.GetAsArray1D() : [], affine ? bdb.GetAsArray1D() : [], bdx2.GetAsArray1D());
    }

    [Test]
    public void SimdMatchesReference([Values] bool affine, [ValueSource(typeof(CpuVariants), nameof(CpuVariants.Isas))] CpuIsa isa)
    {
        var options = CpuVariants.Options(isa);
        var d = Small(7);
        AssertClose(Simd(d, affine, options), Reference(d, affine), $"{isa} affine={affine}");
    }

    [Test]
    public void KernelsMatchReference([Values] bool affine, [ValueSource(typeof(TestDevices), nameof(TestDevices.Backends))] BackendKind backend)
    {
        var d = Small(8);
        AssertClose(OnDevice(TestDevices.Get(backend), d, affine), Reference(d, affine), $"{backend} affine={affine}");
    }

    [Test]
    public void FixtureSizeOnSimdAndOpenCL()
    {
        var d = Fixture();
        var expected = Reference(d, affine: true);
        AssertClose(Simd(d, true, default), expected, "SIMD");
        AssertClose(OnDevice(TestDevices.OpenCL, d, true), expected, "OpenCL");
    }

    [Test]
    public void RunningStatisticsOnDeviceFollowTheReference([ValueSource(typeof(TestDevices), nameof(TestDevices.Backends))] BackendKind backend)
    {
        var device = TestDevices.Get(backend);
        var (mean, var) = (TestData.Uniform(1, 9, -1f, 1f), TestData.Uniform(2, 9, 0.5f, 2f));
        var (rm, rv) = (TestData.Uniform(3, 9), TestData.Uniform(4, 9, 0.5f, 1.5f));
        var (em, ev) = (rm.ToArray(), rv.ToArray());
        BatchNormTrainingReference.UpdateTorchRunningStats(mean, var, 50, 0.1f, em, ev);
        var (cm, cv) = (rm.ToArray(), rv.ToArray());
        float factor = 2f, deviceFactor = 2f;
        BatchNormTrainingReference.UpdateCaffeMovingAverages(mean, var, 50, 0.999f, cm, cv, ref factor);
        using var bm = device.Upload(mean);
        using var bv = device.Upload(var);
        using var brm = device.Upload(rm);
        using var brv = device.Upload(rv);
        using var bcm = device.Upload(rm);
        using var bcv = device.Upload(rv);
        using var op = new BatchNormBackwardOp(device);
        op.UpdateTorchRunningStats(bm.View, bv.View, 50, 0.1f, brm.View, brv.View);
        op.UpdateCaffeMovingAverages(bm.View, bv.View, 50, 0.999f, bcm.View, bcv.View, ref deviceFactor);
        device.Synchronize();
        GradientAssert.Close(brm.GetAsArray1D(), em, 1e-6, "torch running mean");
        GradientAssert.Close(brv.GetAsArray1D(), ev, 1e-6, "torch running var");
        GradientAssert.Close(bcm.GetAsArray1D(), cm, 1e-6, "Caffe mean blob");
        GradientAssert.Close(bcv.GetAsArray1D(), cv, 1e-6, "Caffe variance blob");
        Assert.That(deviceFactor, Is.EqualTo(factor));
    }

    // ---- Scale ----

    [Test]
    public void ScaleVariantsMatchReference([Values] bool bias)
    {
        var f = BackwardFixtures.Case("scale");
        var s = f.Shape("x");
        var (outer, channels, inner) = (s[0], s[1], s[2] * s[3]);
        var (x, scale, dy) = (f.F("x"), f.F("scale"), f.F("dy"));
        var (ex, es, eb) = (new float[x.Length], new float[channels], new float[bias ? channels : 0]);
        ScaleBackwardReference.Backward(outer, channels, inner, x, scale, dy, ex, es, eb);
        foreach (var isa in CpuVariants.Isas.Where(CpuIsaSupport.IsSupported))
        {
            var (ax, asc, ab) = (new float[x.Length], new float[channels], new float[eb.Length]);
            ScaleBackwardSimd.Backward(outer, channels, inner, x, scale, dy, ax, asc, ab, new CpuOpOptions(isa, 2));
            CpuVariants.AssertBits(ax, ex, $"{isa}: dx");
            GradientAssert.Close(asc, es, Bound, $"{isa}: dscale");
            GradientAssert.Close(ab, eb, Bound, $"{isa}: dbias");
        }
        foreach (var backend in TestDevices.Backends)
        {
            var device = TestDevices.Get(backend);
            // The CPU simulator gets a slice: a few planes of the fixture.
            int o = backend == BackendKind.CpuSim ? 1 : outer, ch = backend == BackendKind.CpuSim ? 3 : channels, inn = backend == BackendKind.CpuSim ? 50 : inner;
            var (sx, sdy) = (Slice(x, outer, channels, inner, o, ch, inn), Slice(dy, outer, channels, inner, o, ch, inn));
            var (rx, rs, rb) = (new float[sx.Length], new float[ch], new float[bias ? ch : 0]);
            ScaleBackwardReference.Backward(o, ch, inn, sx, scale[..ch], sdy, rx, rs, rb);
            using var bx = device.Upload(sx);
            using var bs = device.Upload(scale[..ch]);
            using var bdy = device.Upload(sdy);
            using var bdx = device.Allocate(sx.Length);
            using var bds = device.Allocate(ch);
            using var bdb = device.Allocate(ch);
            new ScaleBackwardOp(device).Backward(o, ch, inn, bx.View, bs.View, bdy.View, bdx.View, bds.View, bias ? bdb.View.BaseView : bdb.View.BaseView.SubView(0, 0));
            device.Synchronize();
            CpuVariants.AssertBits(bdx.GetAsArray1D(), rx, $"{backend}: dx");
            GradientAssert.Close(bds.GetAsArray1D(), rs, Bound, $"{backend}: dscale");
            if (bias) GradientAssert.Close(bdb.GetAsArray1D(), rb, Bound, $"{backend}: dbias");
        }
    }

    private static float[] Slice(float[] a, int outer, int channels, int inner, int o, int ch, int inn) =>
        (from i in Enumerable.Range(0, o) from c in Enumerable.Range(0, ch) select a.AsSpan((i * channels + c) * inner, inn).ToArray()).SelectMany(v => v).ToArray();
}
