using Ssd.Kernels.Detect;
using Ssd.Kernels.Nms;
using Ssd.Kernels.Softmax;
using Ssd.Weights.Model;

namespace Ssd.Engine.PostProcessing.Reference;

/// <summary>
/// What the three references share (<see cref="PostProcessRules"/> steps 1 and 2): the input checks, and per image
/// every prior's decoded box, the class probabilities, each class's candidates best first, and the one overlap test
/// (<see cref="Iou"/>). Each flavour's own decode, NMS walk and merge are in its subclass.
/// </summary>
internal abstract class ReferencePostProcessor : IPostProcessor
{
    private readonly string who;

    protected float[] Priors { get; }
    protected int NumPriors { get; }
    protected PostProcessParams P { get; }

    /// <param name="priors">The priors in the flavour's layout.</param>
    /// <param name="floatsPerPrior">The prior layout's width (<paramref name="layout"/> names it in errors).</param>
    /// <param name="layout">The layout's name for error messages.</param>
    /// <param name="parameters">Classes, thresholds and caps.</param>
    /// <param name="who">The flavour's name for error messages.</param>
    protected ReferencePostProcessor(float[] priors, int floatsPerPrior, string layout, PostProcessParams parameters, string who)
    {
        if (priors.Length == 0 || priors.Length % floatsPerPrior != 0) throw new ArgumentException($"{who}: {priors.Length} prior floats are not {layout}");
        (Priors, NumPriors, P, this.who) = (priors, priors.Length / floatsPerPrior, parameters, who);
        P.Validate(NumPriors, who);
    }

    public IReadOnlyList<PostDetection>[] Run(ReadOnlySpan<float> loc, ReadOnlySpan<float> conf, IReadOnlyList<ImageSize> originalSizes)
    {
        int c = P.NumClasses, n = PostProcessInputs.Images(loc, conf, NumPriors, c, originalSizes.Count, who);
        var result = new IReadOnlyList<PostDetection>[n];
        var boxes = new float[NumPriors * 4];
        for (int img = 0; img < n; img++)
        {
            PostProcessInputs.CheckSize(originalSizes[img], who);
            Decode(loc.Slice(img * NumPriors * 4, NumPriors * 4), boxes);
            var scores = new float[NumPriors * c];
            if (P.ConfIsProbability) conf.Slice(img * NumPriors * c, NumPriors * c).CopyTo(scores);
            else SoftmaxReference.Rows(NumPriors, c, conf.Slice(img * NumPriors * c, NumPriors * c), scores);
            result[img] = Detect(boxes, scores, originalSizes[img]);
        }
        return result;
    }

    /// <summary>Every prior's box [P, 4] from the image's offsets.</summary>
    protected abstract void Decode(ReadOnlySpan<float> loc, float[] boxes);

    /// <summary>The image's detections from its boxes and probabilities [P, C].</summary>
    protected abstract PostDetection[] Detect(float[] boxes, float[] scores, ImageSize size);

    /// <summary>Class cls's priors scoring &gt; the threshold, best first (a stable sort: equal scores keep the lower
    /// prior first, or the higher with <paramref name="higherPriorFirst"/>), the first top_k (-1: all).</summary>
    protected List<int> BestFirst(float[] scores, int cls, bool higherPriorFirst = false)
    {
        int c = P.NumClasses;
        var ordered = Enumerable.Range(0, NumPriors).Where(i => scores[i * c + cls] > P.ConfidenceThreshold).OrderByDescending(i => scores[i * c + cls]);
        if (higherPriorFirst) ordered = ordered.ThenByDescending(i => i);
        return (P.TopK > -1 ? ordered.Take(P.TopK) : ordered).ToList();
    }

    /// <summary>Whether the kept box a (a prior's, or a row of <paramref name="boxes"/>) suppresses the later box b by
    /// the flavour's overlap rule at nms_threshold (<see cref="Iou.Suppresses"/>).</summary>
    protected bool Suppresses(ModelFlavor rule, float[] boxes, int a, int b) => Iou.Suppresses(rule, P.NmsThreshold,
        boxes[4 * a], boxes[4 * a + 1], boxes[4 * a + 2], boxes[4 * a + 3], boxes[4 * b], boxes[4 * b + 1], boxes[4 * b + 2], boxes[4 * b + 3]);
}
