using Ssd.Kernels.BatchNorm;
using Ssd.Tests.Kernels.Backward;

namespace Ssd.Tests.Kernels.BatchNorm;

/// <summary>
/// Batch normalisation in training mode (<see cref="BatchNormTrainingReference"/>) and its gradients
/// (<see cref="BatchNormBackwardReference"/>): against finite differences, and against torch's F.batch_norm(training=True)
/// forward, running statistics and autograd, and Caffe's moving averages as the fixture script states them.
/// </summary>
public class BatchNormBackwardTests
{
    private const int N = 3, C = 4, H = 3, W = 2;

    private static (float[] X, float[] Gamma, float[] Beta, float[] R) Data(int seed)
    {
        var x = TestData.Uniform(seed, N * C * H * W, -2f, 3f);
        return (x, TestData.Uniform(seed + 1, C, 0.5f, 1.5f), TestData.Uniform(seed + 2, C, -0.3f, 0.3f), TestData.Uniform(seed + 3, x.Length));
    }

    [TestCase(true)]
    [TestCase(false)]
    public void TrainingGradientsMatchFiniteDifferences(bool affine)
    {
        var (x, gamma, beta, r) = Data(41);
        if (!affine) (gamma, beta) = ([], []);
        const float eps = 1e-5f;
        var (y, mean, var, inv) = (new float[x.Length], new float[C], new float[C], new float[C]);
        double Loss()
        {
            BatchNormTrainingReference.Forward(N, C, H, W, x, gamma, beta, eps, y, mean, var, inv);
            return FiniteDifference.Dot(r, y);
        }
        Loss();
        var (dx, dg, db) = (new float[x.Length], new float[gamma.Length], new float[beta.Length]);
        BatchNormBackwardReference.Backward(N, C, H, W, x, mean, inv, gamma, r, dx, dg, db);
        FiniteDifference.AssertMatches(dx, FiniteDifference.Gradient(x, Loss, 1e-2), 1e-4, "dx");
        if (!affine) return;
        FiniteDifference.AssertMatches(dg, FiniteDifference.Gradient(gamma, Loss, 0.25), 1e-5, "dgamma");
        FiniteDifference.AssertMatches(db, FiniteDifference.Gradient(beta, Loss, 0.25), 1e-5, "dbeta");
    }

    [Test]
    public void GlobalStatsGradientMatchesFiniteDifferences()
    {
        // Frozen statistics: y = (x - mean) / sqrt(var + eps) * gamma + beta is affine in x.
        var (x, gamma, beta, r) = Data(51);
        var mean = TestData.Uniform(55, C, -1f, 1f);
        var variance = TestData.Uniform(56, C, 0.5f, 2f);
        const float eps = 1e-5f;
        var y = new float[x.Length];
        double Loss()
        {
            for (int i = 0; i < x.Length; i++)
            {
                int k = i / (H * W) % C;
                y[i] = (float)((x[i] - mean[k]) / Math.Sqrt(variance[k] + eps) * gamma[k] + beta[k]);
            }
            return FiniteDifference.Dot(r, y);
        }
        var dx = new float[x.Length];
        BatchNormBackwardReference.BackwardGlobalStats(N, C, H, W, variance, eps, gamma, r, dx);
        FiniteDifference.AssertMatches(dx, FiniteDifference.Gradient(x, Loss, 0.25), 1e-5, "dx");
    }

    [Test]
    public void RunningStatisticsFollowEachFramework()
    {
        // Hand-worked: mean 2, biased variance 3 over m = 4 values per channel (unbiased 4).
        var (rm, rv) = (new[] { 1f }, new[] { 1f });
        BatchNormTrainingReference.UpdateTorchRunningStats([2f], [3f], 4, 0.1f, rm, rv);
        Assert.That(rm[0], Is.EqualTo(0.9f * 1 + 0.1f * 2).Within(1e-7));
        Assert.That(rv[0], Is.EqualTo(0.9f * 1 + 0.1f * 4).Within(1e-7));
        var (ms, vs) = (new[] { 1f }, new[] { 1f });
        float factor = 1f;
        BatchNormTrainingReference.UpdateCaffeMovingAverages([2f], [3f], 4, 0.999f, ms, vs, ref factor);
        Assert.That(factor, Is.EqualTo(0.999f + 1).Within(1e-7));
        Assert.That(ms[0], Is.EqualTo(0.999f + 2).Within(1e-6));
        Assert.That(vs[0], Is.EqualTo(0.999f + 4).Within(1e-6));
        BatchNormTrainingReference.UpdateCaffeMovingAverages([2f], [3f], 1, 0.5f, ms, vs, ref factor);
        Assert.That(vs[0], Is.EqualTo(0.5f * (0.999f + 4) + 3).Within(1e-6), "Caffe: no correction for one value");
        Assert.Throws<ArgumentException>(() => BatchNormTrainingReference.UpdateTorchRunningStats([2f], [3f], 1, 0.1f, rm, rv),
            "torch: expected more than 1 value per channel");
    }

    [Test]
    public void BadInputIsRefused()
    {
        var (x, gamma, beta, _) = Data(1);
        var (y, m, v, inv) = (new float[x.Length], new float[C], new float[C], new float[C]);
        Assert.Throws<ArgumentException>(() => BatchNormTrainingReference.Forward(N, C, H, W, x, gamma.AsSpan(1), beta, 1e-5f, y, m, v, inv));
        Assert.Throws<ArgumentException>(() => BatchNormTrainingReference.Forward(N, C, H, W, x, gamma, beta, float.NaN, y, m, v, inv));
        Assert.Throws<ArgumentException>(() => BatchNormTrainingReference.Forward(N, C, H, W, x.AsSpan(1), gamma, beta, 1e-5f, y, m, v, inv));
        Assert.Throws<ArgumentException>(() => BatchNormBackwardReference.Backward(N, C, H, W, x, m, inv, gamma, x.AsSpan(1), y, m, v));
        Assert.Throws<ArgumentException>(() => BatchNormTrainingReference.UpdateTorchRunningStats(m, v, 10, 1.5f, new float[C], new float[C]));
    }

    // ---- Against torch ----

    [Test]
    public void MatchesTorchTrainingModeAndAutograd()
    {
        var f = BackwardFixtures.Case("batch_norm");
        var s = f.Shape("x");
        var (n, c, h, w) = (s[0], s[1], s[2], s[3]);
        var (x, gamma, beta, dy) = (f.F("x"), f.F("gamma"), f.F("beta"), f.F("dy"));
        float eps = (float)f.Double("eps");
        var (y, mean, var, inv) = (new float[x.Length], new float[c], new float[c], new float[c]);
        BatchNormTrainingReference.Forward(n, c, h, w, x, gamma, beta, eps, y, mean, var, inv);
        GradientAssert.Close(y, f.F("y"), 1e-6, "y");
        var (rm, rv) = (f.F("running_mean_in"), f.F("running_var_in"));
        BatchNormTrainingReference.UpdateTorchRunningStats(mean, var, (long)n * h * w, (float)f.Double("momentum"), rm, rv);
        GradientAssert.Close(rm, f.F("running_mean_out"), 1e-6, "torch running mean");
        GradientAssert.Close(rv, f.F("running_var_out"), 1e-6, "torch running var");
        var (ms, vs) = (f.F("caffe_mean_in"), f.F("caffe_var_in"));
        float factor = (float)f.Double("caffe_scale_factor_in");
        BatchNormTrainingReference.UpdateCaffeMovingAverages(mean, var, (long)n * h * w, (float)f.Double("moving_average_fraction"), ms, vs, ref factor);
        GradientAssert.Close(ms, f.F("caffe_mean_out"), 1e-6, "Caffe mean blob");
        GradientAssert.Close(vs, f.F("caffe_var_out"), 1e-6, "Caffe variance blob");
        Assert.That(factor, Is.EqualTo((float)f.Double("caffe_scale_factor_out")), "Caffe scale factor blob");

        var (dx, dg, db) = (new float[x.Length], new float[c], new float[c]);
        BatchNormBackwardReference.Backward(n, c, h, w, x, mean, inv, gamma, dy, dx, dg, db);
        GradientAssert.Close(dx, f.F("dx"), 1e-5, "dx");
        GradientAssert.Close(dg, f.F("dgamma"), 1e-6, "dgamma");
        GradientAssert.Close(db, f.F("dbeta"), 1e-6, "dbeta");

        BatchNormTrainingReference.Forward(n, c, h, w, x, [], [], eps, y, mean, var, inv);
        GradientAssert.Close(y, f.F("y_plain"), 1e-6, "y without the affine part");
        BatchNormBackwardReference.Backward(n, c, h, w, x, mean, inv, [], dy, dx, [], []);
        GradientAssert.Close(dx, f.F("dx_plain"), 1e-5, "dx without the affine part");
    }
}
