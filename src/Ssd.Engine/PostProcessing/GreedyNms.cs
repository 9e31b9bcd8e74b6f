using System.Numerics;

namespace Ssd.Engine.PostProcessing;

/// <summary>How a flavour's NMS writes IoU and its suppression test.</summary>
internal enum GreedyIou
{
    /// <summary>torchvision::ops::nms: inter / (area_i + area_j - inter) &gt; threshold suppresses.</summary>
    Torchvision,
    /// <summary>ssd.pytorch box_utils.nms: inter / ((area_j - inter) + area_i) not &lt;= threshold suppresses (NaN too).</summary>
    SsdPytorch,
}

/// <summary>
/// Greedy NMS over boxes already in walk order (best first), held as columns: each kept box suppresses every later
/// box it overlaps too much. The later boxes are tested a vector at a time with the scalar arithmetic lane by lane
/// (IEEE add, multiply, divide, min, max: the same floats), so the kept set is the scalar walk's. Boxes with a NaN or
/// infinite coordinate take the scalar path, where MathF.Min / Max decide how NaN flows.
/// </summary>
internal sealed class GreedyNms
{
    private float[] x1 = [], y1 = [], x2 = [], y2 = [], area = [];
    private int[] suppressed = [];

    /// <summary>Room for n boxes; returns the columns to fill (x1, y1, x2, y2).</summary>
    public (float[] X1, float[] Y1, float[] X2, float[] Y2) Columns(int n)
    {
        int size = (n + Vector<float>.Count - 1) / Vector<float>.Count * Vector<float>.Count;
        if (x1.Length < size)
        {
            x1 = new float[size]; y1 = new float[size]; x2 = new float[size]; y2 = new float[size];
            area = new float[size]; suppressed = new int[size];
        }
        return (x1, y1, x2, y2);
    }

    /// <summary>Walks the first n boxes of the columns; adds the kept positions to keep, in order.</summary>
    public void Run(int n, float threshold, GreedyIou iou, List<int> keep)
    {
        bool finite = true;
        for (int k = 0; k < n; k++)
        {
            area[k] = (x2[k] - x1[k]) * (y2[k] - y1[k]);
            if (!float.IsFinite(x1[k]) || !float.IsFinite(y1[k]) || !float.IsFinite(x2[k]) || !float.IsFinite(y2[k])) finite = false;
        }
        Array.Clear(suppressed, 0, n);
        int w = Vector<float>.Count;
        var thr = new Vector<float>(threshold);
        for (int i = 0; i < n; i++)
        {
            if (suppressed[i] != 0) continue;
            keep.Add(i);
            float bx1 = x1[i], by1 = y1[i], bx2 = x2[i], by2 = y2[i], barea = area[i];
            int j = i + 1;
            if (finite)
            {
                var vx1 = new Vector<float>(bx1); var vy1 = new Vector<float>(by1);
                var vx2 = new Vector<float>(bx2); var vy2 = new Vector<float>(by2);
                var va = new Vector<float>(barea);
                for (; j + w <= n; j += w)
                {
                    var iw = Vector.Max(Vector<float>.Zero, Vector.Min(vx2, new Vector<float>(x2, j)) - Vector.Max(vx1, new Vector<float>(x1, j)));
                    var ih = Vector.Max(Vector<float>.Zero, Vector.Min(vy2, new Vector<float>(y2, j)) - Vector.Max(vy1, new Vector<float>(y1, j)));
                    var inter = iw * ih;
                    var aj = new Vector<float>(area, j);
                    Vector<int> off = iou == GreedyIou.Torchvision
                        ? Vector.GreaterThan(inter / (va + aj - inter), thr)
                        : Vector.OnesComplement(Vector.LessThanOrEqual(inter / ((aj - inter) + va), thr));
                    (new Vector<int>(suppressed, j) | off).CopyTo(suppressed, j);
                }
            }
            for (; j < n; j++)
            {
                if (suppressed[j] != 0) continue;
                float iw = MathF.Max(0f, MathF.Min(bx2, x2[j]) - MathF.Max(bx1, x1[j]));
                float ih = MathF.Max(0f, MathF.Min(by2, y2[j]) - MathF.Max(by1, y1[j]));
                float inter = iw * ih;
                bool off = iou == GreedyIou.Torchvision
                    ? inter / (barea + area[j] - inter) > threshold
                    : !(inter / ((area[j] - inter) + barea) <= threshold);
                if (off) suppressed[j] = -1;
            }
        }
    }
}
