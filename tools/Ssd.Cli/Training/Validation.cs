using Ssd.Cli.Evaluation;
using Ssd.Data;
using Ssd.Data.Metrics;
using Ssd.Engine.Detection;
using Ssd.Engine.Graph;
using Ssd.Weights.Model;

namespace Ssd.Cli.Training;

/// <summary>
/// Evaluation during training (`--val-data SPEC --eval-every N`): the current weights as a detector (the model's own
/// post-processing, as `ssd detect` and `ssd eval` run it), run over the validation set by `ssd eval`'s
/// <see cref="ModelRunner"/> and scored by its evaluators (<see cref="Evaluator"/>): the same numbers `ssd eval` gives
/// for RUN_DIR/model.safetensors at that step.
/// </summary>
public sealed class Validation(DetectionDataSet set, MetricKind metric, DetectorBackend backend, int batch)
{
    public DetectionDataSet Set => set;
    public MetricKind Metric => metric;

    /// <summary>The headline number the curves plot: VOC's mAP, COCO's AP50.</summary>
    public string Headline => metric == MetricKind.Coco ? "AP50" : "mAP";

    /// <summary>Checks that the model's classes name the set's (by name, as `ssd eval` maps them).</summary>
    public static ClassMapping Classes(ModelDescription model, DetectionDataSet set)
    {
        var post = model.PostProcess;
        return ClassMapping.ByName(post.ClassNames ?? new string[post.NumClasses], post.BackgroundId, set);
    }

    public MetricResult Evaluate(ModelDescription model, ModelWeights weights)
    {
        using var detector = SsdDetector.Create(model, weights.ToTensors(), new SsdDetectorOptions { Backend = backend, MaxBatch = batch });
        var runner = new ModelRunner(detector, set, Classes(model, set), batch, TextWriter.Null, progress: false);
        return Evaluator.Evaluate(metric, set, runner.Run());
    }
}
