using Ssd.Kernels.Cpu;
using Ssd.Engine.Training.Loss;
using Ssd.Engine.Training.Optim;

namespace Ssd.Engine.Training;

/// <summary>
/// Training stopped because a loss or a gradient was not finite. Thrown before the optimizer step, so the weights
/// (and the optimizer's state) are still those after the last good step. Names the step, the images of the batch
/// whose share was not finite (all of the batch when only the total or a gradient is), and what was found.
/// </summary>
public sealed class NonFiniteLossException : Exception
{
    /// <summary>The process exit code the trainer uses for it (distinct from bad input, 1).</summary>
    public const int ExitCode = 3;

    /// <summary>The step that failed (from 1).</summary>
    public long Step { get; }
    /// <summary>The images whose share was not finite (all of the batch when only the total or a gradient was).</summary>
    public IReadOnlyList<string> Images { get; }
    /// <summary>The loss found.</summary>
    public double Loss { get; }
    /// <summary>Its localisation part.</summary>
    public double LocLoss { get; }
    /// <summary>Its confidence part.</summary>
    public double ConfLoss { get; }

    /// <summary>Creates the error; the message names the step, what was found and the images.</summary>
    /// <param name="step">The step.</param>
    /// <param name="images">The images.</param>
    /// <param name="loss">The loss.</param>
    /// <param name="locLoss">Its localisation part.</param>
    /// <param name="confLoss">Its confidence part.</param>
    /// <param name="what">What was not finite, e.g. "the loss is NaN".</param>
    public NonFiniteLossException(long step, IReadOnlyList<string> images, double loss, double locLoss, double confLoss, string what)
        : base($"training stopped at step {step}: {what} (loss {loss}, loc_loss {locLoss}, conf_loss {confLoss}); images: {string.Join(", ", images)}. " +
               "The weights are those after the last good step.")
    {
        Step = step;
        Images = images;
        Loss = loss;
        LocLoss = locLoss;
        ConfLoss = confLoss;
    }
}

/// <summary>The checks a trainer runs each step between the loss and the update.</summary>
public static class TrainingGuard
{
    /// <summary>
    /// Throws <see cref="NonFiniteLossException"/> when the batch loss is not finite, naming the images whose own
    /// share (loc or conf sum) is not finite, or every image of the batch when each share is finite but the total
    /// is not. <paramref name="imageNames"/> holds one name per image of the batch.
    /// </summary>
    public static void CheckLoss(long step, MultiBoxLossResult result, IReadOnlyList<string> imageNames)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(imageNames);
        if (imageNames.Count != result.Images.Length) throw new ArgumentException($"training guard: {imageNames.Count} image names for a batch of {result.Images.Length}");
        if (result.IsFinite && result.Images.All(i => i.IsFinite)) return;
        var bad = result.Images.Select((im, k) => (im, k)).Where(x => !x.im.IsFinite).Select(x => imageNames[x.k]).ToArray();
        throw new NonFiniteLossException(step, bad.Length > 0 ? bad : [.. imageNames], result.Loss, result.LocLoss, result.ConfLoss,
            bad.Length > 0 ? "the loss is not finite" : "the loss is not finite (every image's share is)");
    }

    /// <summary>
    /// Throws <see cref="NonFiniteLossException"/> when a gradient holds NaN or infinity (naming the first such
    /// parameter), before the optimizer would spread it into every weight.
    /// </summary>
    public static void CheckGradients(long step, IEnumerable<Parameter> parameters, MultiBoxLossResult result, IReadOnlyList<string> imageNames)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var list = parameters.ToArray();
        var finite = new bool[list.Length];
        WorkerPool.Run(list.Length, Environment.ProcessorCount, (list, finite), static (s, _, i) => s.finite[i] = AllFinite(s.list[i].Grad));
        for (int i = 0; i < list.Length; i++)
        {
            if (finite[i]) continue;
            var g = list[i].Grad;
            int at = Array.FindIndex(g, x => !float.IsFinite(x));
            throw new NonFiniteLossException(step, [.. imageNames], result.Loss, result.LocLoss, result.ConfLoss,
                $"the gradient of '{list[i].Name}' is {g[at]} at element {at}");
        }
    }

    /// <summary>x * 0 is 0 for every finite x and NaN otherwise: one vector sum tells.</summary>
    public static bool AllFinite(ReadOnlySpan<float> values)
    {
        var acc = System.Numerics.Vector<float>.Zero;
        int i = 0, w = System.Numerics.Vector<float>.Count;
        for (; i + w <= values.Length; i += w) acc += new System.Numerics.Vector<float>(values.Slice(i, w)) * System.Numerics.Vector<float>.Zero;
        float tail = 0f;
        for (; i < values.Length; i++) tail += values[i] * 0f;
        return float.IsFinite(System.Numerics.Vector.Sum(acc) + tail);
    }
}
