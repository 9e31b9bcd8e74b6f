using ILGPU;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Priors;

/// <summary>ILGPU kernels for default boxes: one thread per prior, each flavour in its own arithmetic.</summary>
public static class PriorKernels
{
    /// <summary>The layer holding prior <paramref name="p"/> (layers are few and ordered by FirstPrior).</summary>
    private static PriorLayer LayerOf(int p, ArrayView<PriorLayer> layers)
    {
        var layer = layers[0];
        for (int l = 1; l < layers.IntLength; l++)
            if (p >= layers[l].FirstPrior) layer = layers[l];
        return layer;
    }

    /// <summary>
    /// Version 1, Caffe PriorBox as OpenCV DNN computes it: centre (w + offset) * step, corners
    /// (centre -/+ size * 0.5f) / image size, all float, optional clip; the variances go to the second half of <paramref name="output"/>.
    /// </summary>
    [Kernel("priors")]
    public static void CaffePriors1(Index1D p, ArrayView<PriorLayer> layers, ArrayView<double> shapes, ArrayView<float> output)
    {
        var l = LayerOf(p, layers);
        int local = p - l.FirstPrior, k = local % l.PriorsPerCell, cell = local / l.PriorsPerCell;
        int h = cell / l.Width, w = cell % l.Width;
        float cx = (w + l.Offset) * (float)l.StepX;
        float cy = (h + l.Offset) * (float)l.StepY;
        float bw = (float)shapes[2 * (l.FirstShape + k)], bh = (float)shapes[2 * (l.FirstShape + k) + 1];
        float imgW = l.ImageWidth, imgH = l.ImageHeight;
        float x1 = (cx - bw * 0.5f) / imgW, y1 = (cy - bh * 0.5f) / imgH;
        float x2 = (cx + bw * 0.5f) / imgW, y2 = (cy + bh * 0.5f) / imgH;
        if (l.Clip != 0)
        {
            x1 = IntrinsicMath.Clamp(x1, 0f, 1f); y1 = IntrinsicMath.Clamp(y1, 0f, 1f);
            x2 = IntrinsicMath.Clamp(x2, 0f, 1f); y2 = IntrinsicMath.Clamp(y2, 0f, 1f);
        }
        long half = output.Length / 2;
        output[4 * p] = x1; output[4 * p + 1] = y1; output[4 * p + 2] = x2; output[4 * p + 3] = y2;
        output[half + 4 * p] = l.Variance0; output[half + 4 * p + 1] = l.Variance1;
        output[half + 4 * p + 2] = l.Variance2; output[half + 4 * p + 3] = l.Variance3;
    }

    /// <summary>Version 1, ssd.pytorch PriorBox: (cx, cy, w, h) with cx = (j + 0.5) / f_k in double, stored float.</summary>
    [Kernel("priors")]
    public static void SsdPytorchPriors1(Index1D p, ArrayView<PriorLayer> layers, ArrayView<double> shapes, ArrayView<float> output)
    {
        var l = LayerOf(p, layers);
        int local = p - l.FirstPrior, k = local % l.PriorsPerCell, cell = local / l.PriorsPerCell;
        int i = cell / l.Width, j = cell % l.Width;
        float cx = (float)((j + 0.5) / l.StepX), cy = (float)((i + 0.5) / l.StepY);
        float bw = (float)shapes[2 * (l.FirstShape + k)], bh = (float)shapes[2 * (l.FirstShape + k) + 1];
        if (l.Clip != 0)
        {
            cx = IntrinsicMath.Clamp(cx, 0f, 1f); cy = IntrinsicMath.Clamp(cy, 0f, 1f);
            bw = IntrinsicMath.Clamp(bw, 0f, 1f); bh = IntrinsicMath.Clamp(bh, 0f, 1f);
        }
        output[4 * p] = cx; output[4 * p + 1] = cy; output[4 * p + 2] = bw; output[4 * p + 3] = bh;
    }

    /// <summary>
    /// Version 1, torchvision DefaultBoxGenerator.forward: centre (x + 0.5) / f_k in float32, then
    /// (c -/+ 0.5 * wh) * image size in float32, giving pixel (x1, y1, x2, y2).
    /// </summary>
    [Kernel("priors")]
    public static void TorchvisionPriors1(Index1D p, ArrayView<PriorLayer> layers, ArrayView<double> shapes, ArrayView<float> output)
    {
        var l = LayerOf(p, layers);
        int local = p - l.FirstPrior, k = local % l.PriorsPerCell, cell = local / l.PriorsPerCell;
        int y = cell / l.Width, x = cell % l.Width;
        float cx = (x + 0.5f) / (float)l.StepX, cy = (y + 0.5f) / (float)l.StepY;
        float bw = (float)shapes[2 * (l.FirstShape + k)], bh = (float)shapes[2 * (l.FirstShape + k) + 1];
        float sizeX = l.ImageWidth, sizeY = l.ImageHeight;
        output[4 * p] = (cx - 0.5f * bw) * sizeX;
        output[4 * p + 1] = (cy - 0.5f * bh) * sizeY;
        output[4 * p + 2] = (cx + 0.5f * bw) * sizeX;
        output[4 * p + 3] = (cy + 0.5f * bh) * sizeY;
    }
}
