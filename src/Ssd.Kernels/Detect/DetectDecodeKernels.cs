using ILGPU;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Detect;

/// <summary>
/// The device detection output's own decode and softmax: torchvision's decode followed by its clip to the image
/// (Caffe and ssd.pytorch decode with <see cref="BoxCoding.BoxCodingKernels"/>), and the softmax of
/// <see cref="Softmax.SoftmaxReference"/> in the same float32 order, with <see cref="LibmExp"/> for exp, so that
/// the boxes and probabilities are bit for bit those the host post-processors compute (the Softmax layer kernels
/// use the device's own exp, which may differ in the last bit).
/// </summary>
public static class DetectDecodeKernels
{
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
