using ILGPU;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.BoxCoding;

/// <summary>
/// ILGPU box decoding, one thread per (image, prior). The reference's operations in the same float32 order, with
/// glibc's expf algorithm (<see cref="LibmExp"/>: what MathF.Exp is on Linux) and .NET's min, so the boxes are bit for
/// bit the reference's wherever the device does not contract a multiply and an add into an FMA (PoCL and the CPU
/// simulator do not; CUDA's ptxas may). The device post-processing (<see cref="Detect.DetectOp"/>) decodes with these kernels.
/// </summary>
public static class BoxCodingKernels
{
    /// <summary>Version 1, Caffe CENTER_SIZE with per-prior variances in the second half of <paramref name="priors"/>.</summary>
    [Kernel("boxcoding")]
    public static void DecodeCaffe1(Index1D i, ArrayView<float> priors, ArrayView<float> loc, ArrayView<float> output, int numPriors)
    {
        int b = 4 * (i % numPriors), v = 4 * numPriors + b, o = 4 * i;
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

    /// <summary>Version 1, ssd.pytorch decode with priors (cx, cy, w, h) and variances (v0, v1).</summary>
    [Kernel("boxcoding")]
    public static void DecodeSsdPytorch1(Index1D i, ArrayView<float> priors, ArrayView<float> loc, ArrayView<float> output, int numPriors, float variance0, float variance1)
    {
        int b = 4 * (i % numPriors), o = 4 * i;
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

    /// <summary>Version 1, torchvision BoxCoder.decode_single with xyxy anchors, weights and the dw/dh clamp.</summary>
    [Kernel("boxcoding")]
    public static void DecodeTorchvision1(Index1D i, ArrayView<float> anchors, ArrayView<float> codes, ArrayView<float> output, int numPriors, DecodeWeights weights)
    {
        int b = 4 * (i % numPriors), o = 4 * i;
        float widths = anchors[b + 2] - anchors[b], heights = anchors[b + 3] - anchors[b + 1];
        float ctrX = anchors[b] + 0.5f * widths, ctrY = anchors[b + 1] + 0.5f * heights;
        float dx = codes[o] / weights.X, dy = codes[o + 1] / weights.Y;
        float dw = NetMath.Min(codes[o + 2] / weights.W, weights.Clip), dh = NetMath.Min(codes[o + 3] / weights.H, weights.Clip);
        float cx = dx * widths + ctrX, cy = dy * heights + ctrY;
        float w = LibmExp.Expf(dw) * widths, h = LibmExp.Expf(dh) * heights;
        float cw = 0.5f * w, ch = 0.5f * h;
        output[o] = cx - cw;
        output[o + 1] = cy - ch;
        output[o + 2] = cx + cw;
        output[o + 3] = cy + ch;
    }

    /// <summary>
    /// Version 1, one thread per coordinate of [N, P, 4] boxes, in place: x clipped to [0, width], y to [0, height]
    /// (torchvision's clip_boxes_to_image; as Math.Clamp, NaN stays NaN).
    /// </summary>
    [Kernel("boxcoding")]
    public static void Clip1(Index1D i, ArrayView<float> boxes, float width, float height)
    {
        float v = boxes[i], limit = i % 2 == 0 ? width : height;
        boxes[i] = v < 0f ? 0f : v > limit ? limit : v;
    }
}

/// <summary>torchvision BoxCoder weights (wx, wy, ww, wh) and the clamp on dw, dh.</summary>
public readonly record struct DecodeWeights(float X, float Y, float W, float H, float Clip)
{
    /// <summary>SSD's BoxCoder(weights=(10, 10, 5, 5)) with bbox_xform_clip = log(1000/16).</summary>
    public static DecodeWeights Ssd { get; } = new(10f, 10f, 5f, 5f, BoxCodingReference.TorchvisionClip);
}
