namespace Ssd.Engine.PostProcessing;

/// <summary>
/// Turns a batch's raw head outputs into detections with one peer library's exact rules. Loc is [N, P, 4],
/// Conf is [N, P, C] (probabilities or logits as the processor was told); the priors were given at construction.
/// Returns per image its detections, best score first (tie order documented by each implementation).
/// </summary>
public interface IPostProcessor
{
    IReadOnlyList<PostDetection>[] Run(ReadOnlySpan<float> loc, ReadOnlySpan<float> conf, IReadOnlyList<ImageSize> originalSizes);
}
