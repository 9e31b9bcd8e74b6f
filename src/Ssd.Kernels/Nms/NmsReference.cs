namespace Ssd.Kernels.Nms;

/// <summary>
/// The IoU formulas the host post-processors' references suppress by (the device post-processing, its kernels and
/// their references are in Kernels/Detect).
/// </summary>
public static class NmsReference
{
    public static float Iou(ReadOnlySpan<float> a, ReadOnlySpan<float> b, IouMode mode)
    {
        if (mode == IouMode.Caffe)
        {
            if (b[0] > a[2] || b[2] < a[0] || b[1] > a[3] || b[3] < a[1]) return 0f;
            float iw = MathF.Min(a[2], b[2]) - MathF.Max(a[0], b[0]);
            float ih = MathF.Min(a[3], b[3]) - MathF.Max(a[1], b[1]);
            float inter = iw * ih;
            float sa = a[2] < a[0] || a[3] < a[1] ? 0f : (a[2] - a[0]) * (a[3] - a[1]);
            float sb = b[2] < b[0] || b[3] < b[1] ? 0f : (b[2] - b[0]) * (b[3] - b[1]);
            return inter / (sa + sb - inter);
        }
        float areaA = (a[2] - a[0]) * (a[3] - a[1]), areaB = (b[2] - b[0]) * (b[3] - b[1]);
        float w = MathF.Max(MathF.Min(a[2], b[2]) - MathF.Max(a[0], b[0]), 0f);
        float h = MathF.Max(MathF.Min(a[3], b[3]) - MathF.Max(a[1], b[1]), 0f);
        float i2 = w * h;
        return i2 / (areaA + areaB - i2);
    }
}
