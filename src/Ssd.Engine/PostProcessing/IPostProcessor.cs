namespace Ssd.Engine.PostProcessing;

/// <summary>
/// Turns a batch's raw head outputs into detections with one peer library's exact rules. Loc is [N, P, 4],
/// Conf is [N, P, C] (probabilities or logits as the processor was told); the priors were given at construction.
/// Returns per image its detections, best score first (tie order documented by each implementation).
/// </summary>
public interface IPostProcessor
{
    /// <summary>Per image, its detections best first, boxes scaled to <paramref name="originalSizes"/>.</summary>
    /// <param name="loc">Box codes [N, P, 4].</param>
    /// <param name="conf">Class scores [N, P, C].</param>
    /// <param name="originalSizes">Each image's size (<see cref="ImageSize.Normalised"/> for [0, 1] boxes).</param>
    IReadOnlyList<PostDetection>[] Run(ReadOnlySpan<float> loc, ReadOnlySpan<float> conf, IReadOnlyList<ImageSize> originalSizes);
}
