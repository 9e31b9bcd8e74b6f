namespace Ssd.Kernels.BoxCoding;

/// <summary>
/// Plain C# box decoding (centre-size offsets to corner boxes) in each peer library's float32 order of operations.
/// Locations are [N, P, 4] flattened; priors are shared by the N images; outputs are [N, P, 4] (x1, y1, x2, y2).
/// </summary>
public static class BoxCodingReference
{
    /// <summary>torchvision's BoxCoder clamp on dw, dh: log(1000 / 16) as float32.</summary>
    public static readonly float TorchvisionClip = (float)Math.Log(1000.0 / 16);

    /// <summary>
    /// Caffe DecodeBBox, CENTER_SIZE, variance_encoded_in_target false: priors [2, P*4] (xyxy, then variances).
    /// cx = v0 * l0 * pw + pcx, w = exp(v2 * l2) * pw.
    /// </summary>
    public static void Caffe(ReadOnlySpan<float> priors, ReadOnlySpan<float> loc, Span<float> output)
    {
        int p = Check(priors.Length / 2, loc, output, "caffe");
        if (priors.Length != 8 * p) throw new ArgumentException($"decode caffe: priors hold {priors.Length} floats, expected 2 x {p} x 4");
        for (int i = 0; i < loc.Length / 4; i++)
            CaffeBox(priors, p, i % p, loc.Slice(4 * i, 4), output.Slice(4 * i, 4));
    }

    /// <summary>
    /// ssd.pytorch's decode: priors [P, 4] (cx, cy, w, h); cx = pcx + l0 * v0 * pw, w = pw * exp(l2 * v1);
    /// then x1 = cx - w / 2 and x2 = x1 + w (its in-place "boxes[:, 2:] += boxes[:, :2]").
    /// </summary>
    public static void SsdPytorch(ReadOnlySpan<float> priors, ReadOnlySpan<float> loc, Span<float> output, float variance0 = 0.1f, float variance1 = 0.2f)
    {
        int p = Check(priors.Length, loc, output, "ssd.pytorch");
        for (int i = 0; i < loc.Length / 4; i++)
            SsdPytorchBox(priors, i % p, loc.Slice(4 * i, 4), output.Slice(4 * i, 4), variance0, variance1);
    }

    /// <summary>
    /// torchvision BoxCoder.decode_single with anchors [P, 4] xyxy: widths without +1, d/weight, dw and dh clamped
    /// at log(1000/16), centre +/- 0.5 * size.
    /// </summary>
    public static void Torchvision(ReadOnlySpan<float> anchors, ReadOnlySpan<float> codes, Span<float> output,
        float wx = 10f, float wy = 10f, float ww = 5f, float wh = 5f)
    {
        int p = Check(anchors.Length, codes, output, "torchvision");
        for (int i = 0; i < codes.Length / 4; i++)
            TorchvisionBox(anchors, i % p, codes.Slice(4 * i, 4), output.Slice(4 * i, 4), wx, wy, ww, wh);
    }

    /// <summary>Caffe's DecodeBBox of one prior: <paramref name="priors"/> is [2, P*4] (corners, then variances).</summary>
    public static void CaffeBox(ReadOnlySpan<float> priors, int numPriors, int prior, ReadOnlySpan<float> loc, Span<float> box)
    {
        int b = 4 * prior, v = 4 * numPriors + b;
        float pw = priors[b + 2] - priors[b], ph = priors[b + 3] - priors[b + 1];
        float pcx = (priors[b] + priors[b + 2]) / 2f, pcy = (priors[b + 1] + priors[b + 3]) / 2f;
        float cx = priors[v] * loc[0] * pw + pcx;
        float cy = priors[v + 1] * loc[1] * ph + pcy;
        float w = MathF.Exp(priors[v + 2] * loc[2]) * pw;
        float h = MathF.Exp(priors[v + 3] * loc[3]) * ph;
        box[0] = cx - w / 2f;
        box[1] = cy - h / 2f;
        box[2] = cx + w / 2f;
        box[3] = cy + h / 2f;
    }

    /// <summary>ssd.pytorch's decode of one prior (<paramref name="priors"/> [P, 4] centre form).</summary>
    public static void SsdPytorchBox(ReadOnlySpan<float> priors, int prior, ReadOnlySpan<float> loc, Span<float> box, float variance0, float variance1)
    {
        int b = 4 * prior;
        float cx = priors[b] + loc[0] * variance0 * priors[b + 2];
        float cy = priors[b + 1] + loc[1] * variance0 * priors[b + 3];
        float w = priors[b + 2] * MathF.Exp(loc[2] * variance1);
        float h = priors[b + 3] * MathF.Exp(loc[3] * variance1);
        float x1 = cx - w / 2f, y1 = cy - h / 2f;
        box[0] = x1;
        box[1] = y1;
        box[2] = w + x1;
        box[3] = h + y1;
    }

    /// <summary>torchvision's BoxCoder.decode_single of one anchor (xyxy pixels), with its log(1000/16) clamp.</summary>
    public static void TorchvisionBox(ReadOnlySpan<float> anchors, int anchor, ReadOnlySpan<float> codes, Span<float> box,
        float wx = 10f, float wy = 10f, float ww = 5f, float wh = 5f)
    {
        int b = 4 * anchor;
        float widths = anchors[b + 2] - anchors[b], heights = anchors[b + 3] - anchors[b + 1];
        float ctrX = anchors[b] + 0.5f * widths, ctrY = anchors[b + 1] + 0.5f * heights;
        float dx = codes[0] / wx, dy = codes[1] / wy;
        float dw = MathF.Min(codes[2] / ww, TorchvisionClip), dh = MathF.Min(codes[3] / wh, TorchvisionClip);
        float cx = dx * widths + ctrX, cy = dy * heights + ctrY;
        float w = MathF.Exp(dw) * widths, h = MathF.Exp(dh) * heights;
        float cw = 0.5f * w, ch = 0.5f * h;
        box[0] = cx - cw;
        box[1] = cy - ch;
        box[2] = cx + cw;
        box[3] = cy + ch;
    }

    private static int Check(int priorFloats, ReadOnlySpan<float> loc, Span<float> output, string what)
    {
        if (priorFloats == 0 || priorFloats % 4 != 0) throw new ArgumentException($"decode {what}: priors hold {priorFloats} floats, not a positive multiple of 4");
        int p = priorFloats / 4;
        if (loc.Length % (4 * p) != 0) throw new ArgumentException($"decode {what}: {loc.Length} location floats are not N x {p} priors x 4");
        if (output.Length != loc.Length) throw new ArgumentException($"decode {what}: output holds {output.Length} floats, locations {loc.Length}");
        return p;
    }
}
