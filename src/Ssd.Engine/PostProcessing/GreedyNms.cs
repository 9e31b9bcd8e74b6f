using System.Numerics;
using Ssd.Kernels.Nms;
using Ssd.Weights.Model;

namespace Ssd.Engine.PostProcessing;

/// <summary>
/// Greedy NMS over boxes already in walk order (best first), held as columns: each kept box suppresses every later
/// box it overlaps too much by the rule's <see cref="Iou"/> (Caffe tests each candidate against the boxes kept before
/// it; its overlap is symmetric bit for bit, so letting each kept box suppress the later ones keeps the same set).
/// The later boxes are tested a Vector&lt;float&gt; at a time with Iou's arithmetic lane by lane (IEEE add, multiply, divide,
/// min, max: the same floats), so the kept set is the scalar walk's; the columns are padded so that the vectors
/// also cover the last boxes (the padding lanes' results are never read). Boxes with a NaN or infinite coordinate
/// take the scalar path, Iou itself.
/// </summary>
internal sealed class GreedyNms
{
    private float[] x1 = [], y1 = [], x2 = [], y2 = [], area = [];
    private int[] suppressed = [];

    /// <summary>Room for n boxes, and a vector of padding after any of them; returns the columns to fill (x1, y1, x2, y2).</summary>
    public (float[] X1, float[] Y1, float[] X2, float[] Y2) Columns(int n)
    {
        int size = (n + 15) / 16 * 16 + 16;
        if (x1.Length < size)
        {
            x1 = new float[size]; y1 = new float[size]; x2 = new float[size]; y2 = new float[size];
            area = new float[size]; suppressed = new int[size];
        }
        return (x1, y1, x2, y2);
    }

    /// <summary>Walks the first n boxes of the columns; adds the kept positions to keep, in order.</summary>
    public void Run(int n, float threshold, ModelFlavor rule, List<int> keep)
    {
        bool finite = true;
        for (int k = 0; k < n; k++)
        {
            area[k] = rule == ModelFlavor.Caffe && (x2[k] < x1[k] || y2[k] < y1[k]) ? 0f : (x2[k] - x1[k]) * (y2[k] - y1[k]);
            if (!float.IsFinite(x1[k]) || !float.IsFinite(y1[k]) || !float.IsFinite(x2[k]) || !float.IsFinite(y2[k])) finite = false;
        }
        Array.Clear(suppressed, 0, n);
        bool caffe = rule == ModelFlavor.Caffe, pytorch = rule == ModelFlavor.SsdPytorch, torchvision = rule == ModelFlavor.Torchvision;
        var thr = new Vector<float>(threshold);
        for (int i = 0; i < n; i++)
        {
            if (suppressed[i] != 0) continue;
            keep.Add(i);
            int j = i + 1;
            if (finite)
            {
                var vx1 = new Vector<float>(x1[i]); var vy1 = new Vector<float>(y1[i]);
                var vx2 = new Vector<float>(x2[i]); var vy2 = new Vector<float>(y2[i]);
                var va = new Vector<float>(area[i]);
                for (; j < n; j += Vector<float>.Count)
                {
                    var jx1 = new Vector<float>(x1, j); var jy1 = new Vector<float>(y1, j);
                    var jx2 = new Vector<float>(x2, j); var jy2 = new Vector<float>(y2, j);
                    var aj = new Vector<float>(area, j);
                    var iw = Vector.Min(jx2, vx2) - Vector.Max(jx1, vx1);
                    var ih = Vector.Min(jy2, vy2) - Vector.Max(jy1, vy1);
                    // Caffe: 0 unless the intersection has positive width and height (finite boxes here: apart boxes
                    // have a negative side); the others clamp its sides at 0.
                    var inter = caffe ? iw * ih : Vector.Max(Vector<float>.Zero, iw) * Vector.Max(Vector<float>.Zero, ih);
                    var overlap = inter / (pytorch ? (aj - inter) + va : va + aj - inter);
                    if (caffe)
                        overlap = Vector.ConditionalSelect(Vector.LessThanOrEqual(iw, Vector<float>.Zero) | Vector.LessThanOrEqual(ih, Vector<float>.Zero),
                            Vector<float>.Zero, overlap);
                    var off = torchvision ? Vector.GreaterThan(overlap, thr) : Vector.OnesComplement(Vector.LessThanOrEqual(overlap, thr));
                    (new Vector<int>(suppressed, j) | off).CopyTo(suppressed, j);
                }
            }
            for (; j < n; j++)
                if (suppressed[j] == 0 && Iou.Suppresses(rule, threshold, x1[i], y1[i], x2[i], y2[i], x1[j], y1[j], x2[j], y2[j])) suppressed[j] = -1;
        }
    }
}
