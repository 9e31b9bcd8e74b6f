using Ssd.Engine.PostProcessing;
using Ssd.Kernels.Detect;
using Ssd.Weights.Model;

namespace Ssd.Engine.Detection;

/// <summary>
/// A call's post-processing settings: the detector's options with the call's <see cref="DetectOptions"/> over them,
/// checked against the model. The one place they become rules (<see cref="RulesFor"/>) and trim the result
/// (<see cref="Finish"/>), so a call with options and a detector built with them run the same code.
/// </summary>
internal sealed record DetectSettings(float? ConfidenceThreshold, float? NmsThreshold, int? MaxDetections, int[]? Classes)
{
    public static DetectSettings From(SsdDetectorOptions options, ModelDescription model) =>
        Checked(options.ConfidenceThreshold, options.NmsThreshold, options.MaxDetections, options.Classes, model, "detector options");

    /// <summary>This (the detector's defaults) with a call's options over it; null options: this.</summary>
    public DetectSettings With(DetectOptions? call, ModelDescription model) => call is null ? this
        : Checked(call.ConfidenceThreshold ?? ConfidenceThreshold, call.NmsThreshold ?? NmsThreshold, call.MaxDetections ?? MaxDetections,
            call.Classes is { } c ? c : Classes, model, "detect options");

    private static DetectSettings Checked(float? threshold, float? nms, int? max, IReadOnlyCollection<int>? classes, ModelDescription model, string who)
    {
        if (threshold is { } t && !(t >= 0f && t <= 1f)) throw new ArgumentOutOfRangeException(nameof(DetectOptions.ConfidenceThreshold), t, $"{who}: confidence threshold {t} must be between 0 and 1");
        if (nms is { } n && !(n > 0f && n <= 1f)) throw new ArgumentOutOfRangeException(nameof(DetectOptions.NmsThreshold), n, $"{who}: NMS IoU threshold {n} must be above 0 and at most 1");
        if (max is <= 0) throw new ArgumentOutOfRangeException(nameof(DetectOptions.MaxDetections), max, $"{who}: max detections {max} must be positive");
        int[]? ids = null;
        if (classes is not null)
        {
            var spec = model.PostProcess;
            ids = [.. classes.Distinct().Order()];
            foreach (int id in ids)
                if (id < 0 || id >= spec.NumClasses || id == spec.BackgroundId)
                    throw new ArgumentOutOfRangeException(nameof(DetectOptions.Classes), id,
                        $"{who}: class {id} is not one of {model.Name}'s classes (1..{spec.NumClasses - 1} without the background {spec.BackgroundId})");
        }
        return new DetectSettings(threshold, nms, max, ids);
    }

    /// <summary>
    /// The rules for a network of <paramref name="model"/>'s input size. With a class filter the flavour's per-image cap
    /// is lifted here and applied by <see cref="Finish"/> after the filter (the merged list is ranked, so filtering
    /// then taking the first k is the cap over the asked classes alone).
    /// </summary>
    public PostProcessRules RulesFor(ModelDescription model)
    {
        var rules = PostProcessorFactory.Rules(model, ConfidenceThreshold, NmsThreshold);
        return Classes is null ? rules : rules with { Params = rules.Params with { KeepTopK = 0 } };
    }

    /// <summary>The flavour's per-image cap under <see cref="RulesFor"/>'s rules, before a class filter lifted it (0: none).</summary>
    private int Cap(ModelDescription model) => Classes is null ? 0 : Math.Max(0, PostProcessorFactory.Rules(model, ConfidenceThreshold, NmsThreshold).Params.KeepTopK);

    /// <summary>One image's post-processed detections (ranked, best first) with the class filter and the caps applied.</summary>
    public IReadOnlyList<PostDetection> Finish(IReadOnlyList<PostDetection> ranked, ModelDescription model)
    {
        if (Classes is null && MaxDetections is null) return ranked;
        IEnumerable<PostDetection> kept = Classes is null ? ranked : ranked.Where(d => Array.BinarySearch(Classes, d.ClassId) >= 0);
        int cap = Cap(model);
        int max = Math.Min(MaxDetections ?? int.MaxValue, cap > 0 ? cap : int.MaxValue);
        return [.. kept.Take(max)];
    }
}
