using Ssd.Kernels.Cpu;

namespace Ssd.Engine.Training.Optim;

/// <summary>torch.nn.utils.clip_grad_norm_ (L2, error_if_nonfinite false) over plain gradients.</summary>
public static class GradientClipping
{
    /// <summary>
    /// The L2 norm of all gradients as one vector: the norm of the per-parameter norms, each rounded to float as
    /// torch.norm returns it (summed in double here, torch sums in float: the two agree to float rounding).
    /// </summary>
    public static float TotalNorm(IEnumerable<Parameter> parameters, CpuOpOptions cpu = default)
    {
        var list = parameters.ToArray();
        var norms = new float[list.Length];
        WorkerPool.Run(list.Length, cpu.WorkersFor(list.Sum(p => (long)p.Count)), (list, norms), static (s, _, i) =>
        {
            double sum = 0;
            foreach (float g in s.list[i].Grad) sum += (double)g * g;
            s.norms[i] = (float)Math.Sqrt(sum);
        });
        double total = 0;
        foreach (float n in norms) total += (double)n * n;
        return (float)Math.Sqrt(total);
    }

    /// <summary>
    /// Scales every gradient by min(1, maxNorm / (total + 1e-6)) (torch multiplies even by 1) and returns the total
    /// norm before clipping. A non-finite norm makes the factor NaN, as in torch: check it first
    /// (Ssd.Engine.Training.TrainingGuard does).
    /// </summary>
    public static float ClipByNorm(IEnumerable<Parameter> parameters, double maxNorm, CpuOpOptions cpu = default)
    {
        if (!(maxNorm > 0 && double.IsFinite(maxNorm))) throw new ArgumentException($"clip grad norm: max norm {maxNorm} must be positive and finite");
        var list = parameters.ToArray();
        float total = TotalNorm(list, cpu);
        float coef = MathF.Min((float)maxNorm / (total + 1e-6f), 1f);   // NaN stays NaN, as torch.clamp
        WorkerPool.Run(list.Length, cpu.WorkersFor(list.Sum(p => (long)p.Count)), (list, coef), static (s, _, i) =>
        {
            var g = s.list[i].Grad;
            for (int k = 0; k < g.Length; k++) g[k] *= s.coef;
        });
        return total;
    }
}
