namespace Ssd.Engine.Training.Data.Augment;

/// <summary>
/// OpenCV's RGB &lt;-&gt; HSV conversions (imgproc color_hsv.simd.hpp) as Debian's OpenCV 4.6 runs them on x86-64 with
/// AVX2: <c>cv2.cvtColor(..., COLOR_BGR2HSV / COLOR_HSV2BGR)</c> on the 8-bit images Caffe distorts (H on 0..180) and
/// on the float images ssd.pytorch distorts (H in degrees, S in [0, 1], V as given, nothing clipped).
/// cvtColor converts row by row; within a row the first pixels go through the vector code in blocks (8 pixels for
/// float, 32 for 8-bit HSV to RGB) and the rest through the scalar code, and the two differ in their last bits: the
/// vector code computes 60 / (diff + eps) in float and adds the sector offset with a fused multiply-add, the scalar
/// code divides in double; GCC fuses 1 - s*h (not 1 - s*(1 - h)) in both; 8-bit HSV to RGB truncates v*255 in the
/// vector code and rounds it in the scalar code. Each is kept here, so the results are OpenCV's bit for bit
/// (tests/Ssd.Tests/Training/Data/AugmentFixtureTests against make_augment_fixtures.py). RGB to HSV on 8-bit pixels
/// is integer arithmetic and the same on both paths. Pixels are RGB triples; H, S, V replace them in place.
/// </summary>
internal static class OpenCvColor
{
    private const float FltEpsilon = 1.1920929E-07f;
    private const int HsvShift = 12;
    private const int FloatBlock = 8, ByteToRgbBlock = 32;

    private static readonly int[] SDiv = Table(i => (255 << HsvShift) / (1.0 * i));
    private static readonly int[] HDiv180 = Table(i => (180 << HsvShift) / (6.0 * i));

    private static int[] Table(Func<int, double> f)
    {
        var t = new int[256];
        for (int i = 1; i < 256; i++) t[i] = (int)Math.Round(f(i), MidpointRounding.ToEven);
        return t;
    }

    /// <summary>COLOR_BGR2HSV on 8-bit pixels (RGB2HSV_b, hrange 180), in place.</summary>
    public static void RgbToHsv(Span<byte> rgb)
    {
        for (int i = 0; i < rgb.Length; i += 3)
        {
            int r = rgb[i], g = rgb[i + 1], b = rgb[i + 2];
            int v = Math.Max(b, Math.Max(g, r)), vmin = Math.Min(b, Math.Min(g, r));
            int diff = v - vmin;
            int s = (diff * SDiv[v] + (1 << (HsvShift - 1))) >> HsvShift;
            int h = v == r ? g - b : v == g ? b - r + 2 * diff : r - g + 4 * diff;
            h = (h * HDiv180[diff] + (1 << (HsvShift - 1))) >> HsvShift;
            if (h < 0) h += 180;
            rgb[i] = (byte)Math.Min(h, 255);
            rgb[i + 1] = (byte)s;
            rgb[i + 2] = (byte)v;
        }
    }

    /// <summary>COLOR_HSV2BGR on 8-bit pixels (HSV2RGB_b, hrange 180), in place; rows of <paramref name="width"/> pixels.</summary>
    public static void HsvToRgb(Span<byte> hsv, int width)
    {
        const float hscale = 6.0f / 180;
        int vector = width / ByteToRgbBlock * ByteToRgbBlock;
        for (int row = 0; row < hsv.Length; row += 3 * width)
            for (int x = 0; x < width; x++)
            {
                int i = row + 3 * x;
                float h = hsv[i], s = hsv[i + 1] * (1.0f / 255.0f), v = hsv[i + 2] * (1.0f / 255.0f);
                float r, g, b;
                if (x < vector)
                {
                    (r, g, b) = VectorHsvToRgb(h, s, v, hscale);
                    hsv[i] = Truncated(r * 255f); hsv[i + 1] = Truncated(g * 255f); hsv[i + 2] = Truncated(b * 255f);
                }
                else
                {
                    (r, g, b) = ScalarHsvToRgb(h, s, v, hscale);
                    hsv[i] = Rounded(r * 255f); hsv[i + 1] = Rounded(g * 255f); hsv[i + 2] = Rounded(b * 255f);
                }
            }
    }

    /// <summary>COLOR_BGR2HSV on float pixels (RGB2HSV_f, hrange 360), in place; rows of <paramref name="width"/> pixels.</summary>
    public static void RgbToHsv(Span<float> rgb, int width)
    {
        const float hscale = 360f * (1f / 360f);
        int vector = width / FloatBlock * FloatBlock;
        for (int row = 0; row < rgb.Length; row += 3 * width)
            for (int x = 0; x < width; x++)
            {
                int i = row + 3 * x;
                float r = rgb[i], g = rgb[i + 1], b = rgb[i + 2];
                float h, s, v;
                if (x < vector)
                {
                    float max = MathF.Max(MathF.Max(r, g), b), min = MathF.Min(MathF.Min(r, g), b);
                    float diff = max - min;
                    s = diff / (MathF.Abs(max) + FltEpsilon);
                    bool rMax = r == max, gMax = g == max;
                    h = rMax ? g - b : gMax ? b - r : r - g;
                    float offset = rMax ? (g < b ? 360f : 0f) : gMax ? 120f : 240f;
                    float reciprocal = 60f / (diff + FltEpsilon);
                    h = MathF.FusedMultiplyAdd(h, reciprocal, offset) * hscale;
                    v = max;
                }
                else
                {
                    v = r; float vmin = r;
                    if (v < g) v = g;
                    if (v < b) v = b;
                    if (vmin > g) vmin = g;
                    if (vmin > b) vmin = b;
                    float diff = v - vmin;
                    s = diff / (MathF.Abs(v) + FltEpsilon);
                    diff = (float)(60.0 / (diff + FltEpsilon));
                    if (v == r) h = (g - b) * diff;
                    else if (v == g) h = MathF.FusedMultiplyAdd(b - r, diff, 120f);
                    else h = MathF.FusedMultiplyAdd(r - g, diff, 240f);
                    if (h < 0) h += 360f;
                    h *= hscale;
                }
                rgb[i] = h; rgb[i + 1] = s; rgb[i + 2] = v;
            }
    }

    /// <summary>COLOR_HSV2BGR on float pixels (HSV2RGB_f, hrange 360), in place; rows of <paramref name="width"/> pixels.</summary>
    public static void HsvToRgb(Span<float> hsv, int width)
    {
        const float hscale = 6f / 360f;
        int vector = width / FloatBlock * FloatBlock;
        for (int row = 0; row < hsv.Length; row += 3 * width)
            for (int x = 0; x < width; x++)
            {
                int i = row + 3 * x;
                var (r, g, b) = x < vector ? VectorHsvToRgb(hsv[i], hsv[i + 1], hsv[i + 2], hscale) : ScalarHsvToRgb(hsv[i], hsv[i + 1], hsv[i + 2], hscale);
                hsv[i] = r; hsv[i + 1] = g; hsv[i + 2] = b;
            }
    }

    /// <summary>HSV2RGB_simd, one lane: the sector from truncation, the four candidates selected by masks.</summary>
    private static (float R, float G, float B) VectorHsvToRgb(float h, float s, float v, float hscale)
    {
        h *= hscale;
        float pre = MathF.Truncate(h);
        h -= pre;
        float tab0 = v, tab1 = v * (1f - s);
        float tab2 = v * MathF.FusedMultiplyAdd(-s, h, 1f);
        float tab3 = v * MathF.FusedMultiplyAdd(-s, 1f - h, 1f);
        float sector = pre - MathF.Truncate(pre * (1.0f / 6.0f)) * 6f;
        float b = sector < 2 ? tab1 : sector == 2 ? tab3 : sector == 3 || sector == 4 ? tab0 : sector > 4 ? tab2 : 0f;
        float g = sector < 1 ? tab3 : sector == 1 || sector == 2 ? tab0 : sector == 3 ? tab2 : sector > 3 ? tab1 : 0f;
        float r = sector < 1 ? tab0 : sector == 1 ? tab2 : sector == 2 || sector == 3 ? tab1 : sector == 4 ? tab3 : sector > 4 ? tab0 : 0f;
        return (r, g, b);
    }

    private static readonly int[,] SectorData = { { 1, 3, 0 }, { 1, 0, 2 }, { 3, 0, 1 }, { 0, 2, 1 }, { 0, 1, 3 }, { 2, 1, 0 } };

    /// <summary>HSV2RGB_native: the sector from fmod and floor (outside 0..5: sector 0, h 0).</summary>
    private static (float R, float G, float B) ScalarHsvToRgb(float h, float s, float v, float hscale)
    {
        if (s == 0) return (v, v, v);
        h *= hscale;
        h %= 6f;
        int sector = (int)MathF.Floor(h);
        h -= sector;
        if ((uint)sector >= 6u) { sector = 0; h = 0f; }
        Span<float> tab = [v, v * (1f - s), v * MathF.FusedMultiplyAdd(-s, h, 1f), v * (1f - s * (1f - h))];
        return (tab[SectorData[sector, 2]], tab[SectorData[sector, 1]], tab[SectorData[sector, 0]]);
    }

    /// <summary>v_trunc then the saturating packs to 8 bits.</summary>
    private static byte Truncated(float x)
    {
        if (!(x > -2147483648f && x < 2147483648f)) return 0;   // cvttps2dq gives INT_MIN, which packs to 0
        int t = (int)x;
        return t <= 0 ? (byte)0 : t >= 255 ? (byte)255 : (byte)t;
    }

    /// <summary>saturate_cast&lt;uchar&gt;(float): cvRound (to nearest, ties to even), then clamped.</summary>
    private static byte Rounded(float x)
    {
        float r = MathF.Round(x, MidpointRounding.ToEven);
        return r <= 0 ? (byte)0 : r >= 255 ? (byte)255 : (byte)r;
    }
}
