using Ssd.Weights.Model;

namespace Ssd.Engine.PostProcessing;

/// <summary>Picks the flavour's post-processor from a model description.</summary>
public static class PostProcessorFactory
{
    /// <param name="priors">The priors in the flavour's own layout (Caffe [2, P*4]; ssd.pytorch centre form;
    /// torchvision xyxy pixels of the input size).</param>
    /// <param name="confidenceThreshold">Overrides the model's threshold when given.</param>
    public static IPostProcessor Create(ModelDescription model, float[] priors, float? confidenceThreshold = null)
    {
        var spec = model.PostProcess;
        var parameters = new PostProcessParams(spec.NumClasses, spec.BackgroundId, confidenceThreshold ?? spec.ConfidenceThreshold,
            spec.NmsThreshold, spec.TopK, spec.KeepTopK, model.Outputs.ConfIsProbability);
        if (!spec.ShareLocation) throw new NotSupportedException($"{model.Name}: share_location false is not supported");
        if (spec.CodeType != "CENTER_SIZE") throw new NotSupportedException($"{model.Name}: code type {spec.CodeType} is not supported (only CENTER_SIZE)");
        return spec.Style switch
        {
            ModelFlavor.Caffe => new CaffeDetectionOutput(priors, parameters),
            ModelFlavor.SsdPytorch => new SsdPytorchDetect(priors, parameters, spec.Variances),
            ModelFlavor.Torchvision => new TorchvisionPostprocess(priors, new ImageSize(model.Input.Width, model.Input.Height), parameters, spec.Variances),
            _ => throw new ArgumentException($"{model.Name}: unknown post-processing style {spec.Style}"),
        };
    }
}
