using ILGPU;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Detect;

/// <summary>
/// Decoding and softmax for the device detection output: the operations of <see cref="BoxCoding.BoxCodingReference"/>
/// and <see cref="Softmax.SoftmaxReference"/> in the same float32 order, with <see cref="LibmExp"/> for exp, so that
/// the boxes and probabilities are bit for bit those the host post-processors compute (the layer kernels in
/// BoxCoding / Softmax use the device's own exp, which may differ in the last bit).
/// </summary>
public static class DetectDecodeKernels
{
    /// <summary>Version 1: Caffe CENTER_SIZE, priors [2, P*4] (corners, then variances); one thread per (image, prior).</summary>
    [Kernel("detect")]
    public static void DecodeCaffe1(Index1D i, ArrayView<float> priors, ArrayView<float> loc, ArrayView<float> output, int numPriors)
    {
        int b = 4 * (i % numPriors), v = 4 * numPriors + b;
        long o = 4L * i;
        float pw = priors[b + 2] - priors[b], ph = priors[b + 3] - priors[b + 1];
        float pcx = (priors[b] + priors[b + 2]) / 2f, pcy = (priors[b + 1] + priors[b + 3]) / 2f;
        float cx = priors[v] * loc[o] * pw + pcx;
        float cy = priors[v + 1] * loc[o + 1] * ph + pcy;
        float w = LibmExp.Expf(priors[v + 2] * loc[o + 2]) * pw;
        float h = LibmExp.Expf(priors[v + 3] * loc[o + 3]) * ph;
        output[o] = cx - w / 2f;
        output[o + 1] = cy - h / 2f;
        output[o + 2] = cx + w / 2f;
        output[o + 3] = cy + h / 2f;
    }

    /// <summary>Version 1: ssd.pytorch decode, priors [P, 4] (cx, cy, w, h), x2 = x1 + w.</summary>
    [Kernel("detect")]
    public static void DecodeSsdPytorch1(Index1D i, ArrayView<float> priors, ArrayView<float> loc, ArrayView<float> output, int numPriors, float variance0, float variance1)
    {
        int b = 4 * (i % numPriors);
        long o = 4L * i;
        float cx = priors[b] + loc[o] * variance0 * priors[b + 2];
        float cy = priors[b + 1] + loc[o + 1] * variance0 * priors[b + 3];
        float w = priors[b + 2] * LibmExp.Expf(loc[o + 2] * variance1);
        float h = priors[b + 3] * LibmExp.Expf(loc[o + 3] * variance1);
        float x1 = cx - w / 2f, y1 = cy - h / 2f;
        output[o] = x1;
        output[o + 1] = y1;
        output[o + 2] = w + x1;
        output[o + 3] = h + y1;
    }

    /// <summary>Version 1: torchvision decode_single (anchors [P, 4] xyxy, weights, dw/dh clamp), then clip_boxes_to_image.</summary>
    [Kernel("detect")]
    public static void DecodeTorchvision1(Index1D i, ArrayView<float> anchors, ArrayView<float> codes, ArrayView<float> output, int numPriors,
        BoxCoding.DecodeWeights weights, float clipWidth, float clipHeight)
    {
        int b = 4 * (i % numPriors);
        long o = 4L * i;
        float widths = anchors[b + 2] - anchors[b], heights = anchors[b + 3] - anchors[b + 1];
        float ctrX = anchors[b] + 0.5f * widths, ctrY = anchors[b + 1] + 0.5f * heights;
        float dx = codes[o] / weights.X, dy = codes[o + 1] / weights.Y;
        float dw = NetMath.Min(codes[o + 2] / weights.W, weights.Clip), dh = NetMath.Min(codes[o + 3] / weights.H, weights.Clip);
        float cx = dx * widths + ctrX, cy = dy * heights + ctrY;
        float w = LibmExp.Expf(dw) * widths, h = LibmExp.Expf(dh) * heights;
        float cw = 0.5f * w, ch = 0.5f * h;
        output[o] = Clip(cx - cw, clipWidth);
        output[o + 1] = Clip(cy - ch, clipHeight);
        output[o + 2] = Clip(cx + cw, clipWidth);
        output[o + 3] = Clip(cy + ch, clipHeight);
    }

    /// <summary>Math.Clamp(v, 0, limit): NaN stays NaN.</summary>
    private static float Clip(float v, float limit) => v < 0f ? 0f : v > limit ? limit : v;

    /// <summary>
    /// Version 1: softmax of each row of [rows, classes], one thread per row: the max, exp(x - max) summed in class
    /// order, then each divided by the sum (SoftmaxReference's order).
    /// </summary>
    [Kernel("detect")]
    public static void SoftmaxRows1(Index1D row, ArrayView<float> x, ArrayView<float> y, int classes)
    {
        long first = (long)(int)row * classes;
        float max = float.NegativeInfinity;
        for (int k = 0; k < classes; k++) max = NetMath.Max(max, x[first + k]);
        float sum = 0f;
        for (int k = 0; k < classes; k++)
        {
            float e = LibmExp.Expf(x[first + k] - max);
            y[first + k] = e;
            sum += e;
        }
        for (int k = 0; k < classes; k++) y[first + k] = y[first + k] / sum;
    }
}
