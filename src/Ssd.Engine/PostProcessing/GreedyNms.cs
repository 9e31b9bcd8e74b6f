using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Ssd.Engine.PostProcessing;

/// <summary>How a flavour's NMS writes IoU and its suppression test.</summary>
internal enum GreedyIou
{
    /// <summary>torchvision::ops::nms: inter / (area_i + area_j - inter) &gt; threshold suppresses.</summary>
    Torchvision,
    /// <summary>ssd.pytorch box_utils.nms: inter / ((area_j - inter) + area_i) not &lt;= threshold suppresses (NaN too).</summary>
    SsdPytorch,
    /// <summary>
    /// Caffe's ApplyNMSFast with JaccardOverlap (normalised): 0 for boxes apart (one's x1 past the other's x2, ...),
    /// else inter / (area_j + area_i - inter) with an inverted box's area 0; suppresses unless the overlap is &lt;=
    /// threshold (NaN too). Caffe tests each candidate against the boxes kept before it and stops at the first that
    /// suppresses it; the overlap is symmetric bit for bit (IEEE add, min and max commute), so letting each kept box
    /// suppress the later ones keeps the same set.
    /// </summary>
    Caffe,
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
        int size = (n + 15) / 16 * 16;
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
            area[k] = iou == GreedyIou.Caffe && (x2[k] < x1[k] || y2[k] < y1[k]) ? 0f : (x2[k] - x1[k]) * (y2[k] - y1[k]);
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
                if (Vector512.IsHardwareAccelerated) j = Suppress512(i, j, n, threshold, iou);
                var vx1 = new Vector<float>(bx1); var vy1 = new Vector<float>(by1);
                var vx2 = new Vector<float>(bx2); var vy2 = new Vector<float>(by2);
                var va = new Vector<float>(barea);
                if (iou == GreedyIou.Caffe)
                    for (; j + w <= n; j += w)
                    {
                        var jx1 = new Vector<float>(x1, j); var jy1 = new Vector<float>(y1, j);
                        var jx2 = new Vector<float>(x2, j); var jy2 = new Vector<float>(y2, j);
                        var apart = Vector.GreaterThan(vx1, jx2) | Vector.LessThan(vx2, jx1) | Vector.GreaterThan(vy1, jy2) | Vector.LessThan(vy2, jy1);
                        var inter = (Vector.Min(jx2, vx2) - Vector.Max(jx1, vx1)) * (Vector.Min(jy2, vy2) - Vector.Max(jy1, vy1));
                        var overlap = Vector.ConditionalSelect(apart, Vector<float>.Zero, inter / (new Vector<float>(area, j) + va - inter));
                        var off = Vector.OnesComplement(Vector.LessThanOrEqual(overlap, thr));
                        (new Vector<int>(suppressed, j) | off).CopyTo(suppressed, j);
                    }
                for (; iou != GreedyIou.Caffe && j + w <= n; j += w)
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
                if (iou == GreedyIou.Caffe)
                {
                    if (!(CaffeOverlap(j, bx1, by1, bx2, by2, barea) <= threshold)) suppressed[j] = -1;
                    continue;
                }
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

    /// <summary>The vector test of the later boxes j.. against kept box i, 16 at a time (AVX-512); returns where it stopped.</summary>
    private int Suppress512(int i, int j, int n, float threshold, GreedyIou iou)
    {
        ref float rx1 = ref MemoryMarshal.GetArrayDataReference(x1), ry1 = ref MemoryMarshal.GetArrayDataReference(y1);
        ref float rx2 = ref MemoryMarshal.GetArrayDataReference(x2), ry2 = ref MemoryMarshal.GetArrayDataReference(y2);
        ref float ra = ref MemoryMarshal.GetArrayDataReference(area);
        ref int rs = ref MemoryMarshal.GetArrayDataReference(suppressed);
        var vx1 = Vector512.Create(x1[i]); var vy1 = Vector512.Create(y1[i]);
        var vx2 = Vector512.Create(x2[i]); var vy2 = Vector512.Create(y2[i]);
        var va = Vector512.Create(area[i]);
        var thr = Vector512.Create(threshold);
        for (; j + 16 <= n; j += 16)
        {
            nuint at = (nuint)j;
            var jx1 = Vector512.LoadUnsafe(ref rx1, at); var jy1 = Vector512.LoadUnsafe(ref ry1, at);
            var jx2 = Vector512.LoadUnsafe(ref rx2, at); var jy2 = Vector512.LoadUnsafe(ref ry2, at);
            var aj = Vector512.LoadUnsafe(ref ra, at);
            Vector512<int> off;
            if (iou == GreedyIou.Caffe)
            {
                var apart = Vector512.GreaterThan(vx1, jx2) | Vector512.LessThan(vx2, jx1) | Vector512.GreaterThan(vy1, jy2) | Vector512.LessThan(vy2, jy1);
                var inter = (Vector512.Min(jx2, vx2) - Vector512.Max(jx1, vx1)) * (Vector512.Min(jy2, vy2) - Vector512.Max(jy1, vy1));
                var overlap = Vector512.ConditionalSelect(apart, Vector512<float>.Zero, inter / (aj + va - inter));
                off = ~Vector512.LessThanOrEqual(overlap, thr).AsInt32();
            }
            else
            {
                var iw = Vector512.Max(Vector512<float>.Zero, Vector512.Min(vx2, jx2) - Vector512.Max(vx1, jx1));
                var ih = Vector512.Max(Vector512<float>.Zero, Vector512.Min(vy2, jy2) - Vector512.Max(vy1, jy1));
                var inter = iw * ih;
                off = iou == GreedyIou.Torchvision
                    ? Vector512.GreaterThan(inter / (va + aj - inter), thr).AsInt32()
                    : (~Vector512.LessThanOrEqual(inter / ((aj - inter) + va), thr)).AsInt32();
            }
            (Vector512.LoadUnsafe(ref rs, at) | off).StoreUnsafe(ref rs, at);
        }
        return j;
    }

    /// <summary>NmsReference.Iou(candidate j, kept box, IouMode.Caffe), its arithmetic in its operand order.</summary>
    private float CaffeOverlap(int j, float bx1, float by1, float bx2, float by2, float barea)
    {
        if (bx1 > x2[j] || bx2 < x1[j] || by1 > y2[j] || by2 < y1[j]) return 0f;
        float iw = MathF.Min(x2[j], bx2) - MathF.Max(x1[j], bx1);
        float ih = MathF.Min(y2[j], by2) - MathF.Max(y1[j], by1);
        float inter = iw * ih;
        return inter / (area[j] + barea - inter);
    }
}
