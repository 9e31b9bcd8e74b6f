using Ssd.Kernels.BoxCoding;
using Ssd.Kernels.Detect;
using Ssd.Weights.Model;

namespace Ssd.Engine.PostProcessing.Reference;

/// <summary>
/// The plain reference that <see cref="PostProcessor"/> with Caffe's rules is checked against, bit for bit.
/// <para/>
/// Caffe SSD's DetectionOutput layer (share_location, CENTER_SIZE, variance_encoded_in_target false, eta 1), per
/// image:
/// 1. decode every prior's offsets with the prior's variances (<see cref="BoxCodingReference.Caffe"/>); with
///    OpenCV DNN's `clip` option, clip each coordinate to [0, 1] (its ClipBBox: max(min(v, 1), 0));
/// 2. per class c != background: priors with score &gt; confidence_threshold, ordered by score with
///    std::stable_sort (equal scores keep the lower prior first), the first top_k;
///    ApplyNMSFast: walk them in that order, keep a box unless JaccardOverlap (normalised, no +1) with an already
///    kept box is not &lt;= nms_threshold (so a NaN overlap suppresses, as in Caffe);
/// 3. if keep_top_k &gt; -1 and more survive, the keep_top_k best over all classes. Caffe uses std::sort there
///    (tie order unspecified); here ties keep the lower class, then the class's own NMS order;
/// 4. boxes multiplied by the image width / height (normalised when the size is 1x1).
/// Output is best score first (Caffe's blob lists class by class; its rows are the same set).
/// </summary>
internal sealed class CaffeDetectionOutputReference : ReferencePostProcessor
{
    private readonly bool clip;

    /// <param name="priors">Caffe's PriorBox blob [2, P*4]: normalised xyxy of every prior, then its variances.</param>
    /// <param name="clip">OpenCV DNN's DetectionOutput clip: decoded boxes kept in [0, 1].</param>
    /// <param name="parameters">Classes, thresholds and caps (Caffe DetectionOutput's parameters).</param>
    public CaffeDetectionOutputReference(float[] priors, PostProcessParams parameters, bool clip = false)
        : base(priors, 8, "2 x P x 4", parameters, "caffe detection output") => this.clip = clip;

    protected override void Decode(ReadOnlySpan<float> loc, float[] boxes)
    {
        BoxCodingReference.Caffe(Priors, loc, boxes);
        if (!clip) return;
        for (int i = 0; i < boxes.Length; i++)
        {
            // std::max(std::min(v, 1.f), 0.f), as std::min / std::max compare (a NaN or -0 stays as it is).
            float v = 1f < boxes[i] ? 1f : boxes[i];
            boxes[i] = v < 0f ? 0f : v;
        }
    }

    protected override PostDetection[] Detect(float[] boxes, float[] scores, ImageSize size)
    {
        int c = P.NumClasses;
        var all = new List<(int Class, int Prior)>();
        for (int cls = 0; cls < c; cls++)
        {
            if (cls == P.BackgroundId) continue;
            foreach (int i in ApplyNmsFast(boxes, BestFirst(scores, cls)))
                all.Add((cls, i));
        }
        // List.Sort is unstable; OrderBy is stable, so ties stay in class order, then NMS order.
        IEnumerable<(int Class, int Prior)> chosen = all.OrderByDescending(d => scores[d.Prior * c + d.Class]);
        if (P.KeepTopK > 0) chosen = chosen.Take(P.KeepTopK);
        return chosen.Select(d => new PostDetection(d.Class, scores[d.Prior * c + d.Class],
            boxes[4 * d.Prior] * size.Width, boxes[4 * d.Prior + 1] * size.Height,
            boxes[4 * d.Prior + 2] * size.Width, boxes[4 * d.Prior + 3] * size.Height)).ToArray();
    }

    /// <summary>Walks the candidates best first; keeps a box unless its JaccardOverlap with a kept one is not &lt;=
    /// nms_threshold (bbox_util's, normalised: 0 for boxes apart and unless the intersection's width and height are
    /// both positive, so touching or zero-size boxes, e.g. boxes clipped onto the border, overlap 0; BBoxSize of an
    /// inverted box is 0).</summary>
    private List<int> ApplyNmsFast(float[] boxes, List<int> ordered)
    {
        var kept = new List<int>();
        foreach (int i in ordered)
            if (!kept.Any(k => Suppresses(ModelFlavor.Caffe, boxes, k, i))) kept.Add(i);
        return kept;
    }
}
