using Ssd.Kernels.Detect;
using Ssd.Weights.Model;

namespace Ssd.Engine.PostProcessing;

/// <summary>A model's post-processing rules.</summary>
public static class PostProcessorFactory
{
    /// <summary>
    /// The model's post-processing rules, for the host (<see cref="PostProcessor"/>) and the device
    /// (<see cref="DevicePostProcessor"/>) alike. <paramref name="confidenceThreshold"/> replaces the model's
    /// threshold and <paramref name="nmsThreshold"/> its NMS IoU; this is the one place those overrides are applied.
    /// </summary>
    public static PostProcessRules Rules(ModelDescription model, float? confidenceThreshold = null, float? nmsThreshold = null)
    {
        var spec = model.PostProcess;
        if (!spec.ShareLocation) throw new NotSupportedException($"{model.Name}: share_location false is not supported");
        if (spec.CodeType != "CENTER_SIZE") throw new NotSupportedException($"{model.Name}: code type {spec.CodeType} is not supported (only CENTER_SIZE)");
        var parameters = new PostProcessParams(spec.NumClasses, spec.BackgroundId, confidenceThreshold ?? spec.ConfidenceThreshold,
            nmsThreshold ?? spec.NmsThreshold, spec.TopK, spec.KeepTopK, model.Outputs.ConfIsProbability);
        var rules = PostProcessRules.For(spec.Style, parameters, spec.Variances, model.Input.Width, model.Input.Height);
        // Caffe's boxes are normalised (a 1 x 1 frame): its clip option keeps them in [0, 1].
        return spec.Clip ? rules with { Clip = true } : rules;
    }
}
