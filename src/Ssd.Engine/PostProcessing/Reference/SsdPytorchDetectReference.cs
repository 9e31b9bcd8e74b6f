using Ssd.Kernels.BoxCoding;
using Ssd.Kernels.Detect;
using Ssd.Weights.Model;

namespace Ssd.Engine.PostProcessing.Reference;

/// <summary>
/// The plain reference that <see cref="PostProcessor"/> with ssd.pytorch's rules is checked against, bit for bit.
/// <para/>
/// ssd.pytorch's test path: softmax over classes (ssd.py), Detect.forward (layers/functions/detection.py) and
/// box_utils.nms, then the eval/demo scaling by the ORIGINAL image width and height. Per image and class c >= 1:
/// 1. boxes from box_utils.decode (<see cref="BoxCodingReference.SsdPytorch"/>: x2 = x1 + w);
/// 2. candidates: conf &gt; conf_thresh, in prior order; a class without candidates is skipped;
/// 3. nms: scores.sort() ascending, the last top_k, repeatedly take the last (the best) and drop the rest whose
///    IoU = inter / ((area_j - inter) + area_i) is not &lt;= overlap (areas (x2-x1)(y2-y1), inter clamped at 0);
///    torch's CPU sort is not stable, so its tie order is implementation-defined; here equal scores take the
///    HIGHER prior index first (what a stable ascending sort taken from the end does);
/// 4. at most top_k per class (nms only looks at top_k), no cap over classes: upstream's final
///    "flt[(rank &lt; top_k)...].fill_(0)" writes into an advanced-indexing copy and changes nothing.
/// Output: best score first; ties keep the lower class, then nms order. Boxes are not clipped.
/// </summary>
internal sealed class SsdPytorchDetectReference : ReferencePostProcessor
{
    private readonly float variance0, variance1;

    /// <param name="priors">ssd.pytorch PriorBox output [P, 4]: (cx, cy, w, h) normalised.</param>
    /// <param name="variances">cfg['variance']: [0.1, 0.2] (or Caffe-style 4 values, whose first and third are used).</param>
    /// <param name="parameters">Classes, thresholds and top_k (Detect's arguments).</param>
    public SsdPytorchDetectReference(float[] priors, PostProcessParams parameters, float[]? variances = null)
        : base(priors, 4, "P x 4", parameters, "ssd.pytorch detect")
    {
        if (P.TopK <= 0) throw new ArgumentException($"ssd.pytorch detect: top_k {P.TopK} must be positive");
        (variance0, variance1) = PostProcessRules.SsdPytorchVariances(variances);
    }

    protected override void Decode(ReadOnlySpan<float> loc, float[] boxes) => BoxCodingReference.SsdPytorch(Priors, loc, boxes, variance0, variance1);

    protected override PostDetection[] Detect(float[] boxes, float[] scores, ImageSize size)
    {
        int c = P.NumClasses;
        float w = size.Width, h = size.Height;
        var all = new List<PostDetection>();
        for (int cls = 0; cls < c; cls++)
        {
            if (cls == P.BackgroundId) continue;
            foreach (int i in Nms(boxes, scores, cls))
                all.Add(new PostDetection(cls, scores[i * c + cls], boxes[4 * i] * w, boxes[4 * i + 1] * h, boxes[4 * i + 2] * w, boxes[4 * i + 3] * h));
        }
        return all.OrderByDescending(d => d.Score).ToArray();
    }

    private List<int> Nms(float[] boxes, float[] scores, int cls)
    {
        // Best first; equal scores: higher prior first (the end of an ascending stable sort).
        var idx = BestFirst(scores, cls, higherPriorFirst: true);
        var keep = new List<int>();
        while (idx.Count > 0)
        {
            int i = idx[0];
            keep.Add(i);
            idx.RemoveAt(0);
            idx.RemoveAll(j => Suppresses(ModelFlavor.SsdPytorch, boxes, i, j));
        }
        return keep;
    }
}
