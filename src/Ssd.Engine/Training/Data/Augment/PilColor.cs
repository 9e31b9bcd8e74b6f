namespace Ssd.Engine.Training.Data.Augment;

/// <summary>
/// Pillow 9.4's 8-bit colour operations on RGB pixels, as torchvision's PIL path (transforms/functional_pil.py)
/// calls them: ImageEnhance's Brightness, Contrast and Color are <c>Image.blend(degenerate, image, factor)</c>
/// (libImaging/Blend.c, the factor as a C float), the grey image is <c>convert("L")</c> (Convert.c L24: ITU-R 601-2 in
/// 16-bit fixed point, rounded), and adjust_hue goes through <c>convert("HSV")</c> and back (Convert.c rgb2hsv_row and
/// hsv2rgb, with their float / double mixture kept). Every function is a pure map of pixels (contrast also of the
/// image's mean grey level).
/// </summary>
internal static class PilColor
{
    /// <summary>Blend.c: in1 + alpha * (in2 - in1) in float, truncated; clipped to 0..255 when alpha is outside [0, 1].</summary>
    public static byte Blend(int in1, int in2, float alpha)
    {
        float t = in1 + alpha * (in2 - in1);
        if (alpha >= 0 && alpha <= 1) return (byte)t;
        return t <= 0f ? (byte)0 : t >= 255f ? (byte)255 : (byte)t;
    }

    /// <summary>Convert.c L24: (r * 19595 + g * 38470 + b * 7471 + 0x8000) &gt;&gt; 16.</summary>
    public static byte Luma(byte r, byte g, byte b) => (byte)((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);

    /// <summary>ImageEnhance.Brightness: blend with black.</summary>
    public static void AdjustBrightness(Span<byte> rgb, double factor)
    {
        float a = (float)factor;
        for (int i = 0; i < rgb.Length; i++) rgb[i] = Blend(0, rgb[i], a);
    }

    /// <summary>ImageEnhance.Contrast: blend with the grey image of the mean luma, int(mean + 0.5).</summary>
    public static void AdjustContrast(Span<byte> rgb, double factor)
    {
        long sum = 0;
        for (int i = 0; i < rgb.Length; i += 3) sum += Luma(rgb[i], rgb[i + 1], rgb[i + 2]);
        int mean = (int)((double)sum / (rgb.Length / 3) + 0.5);
        float a = (float)factor;
        for (int i = 0; i < rgb.Length; i++) rgb[i] = Blend(mean, rgb[i], a);
    }

    /// <summary>ImageEnhance.Color: blend with the pixel's own luma.</summary>
    public static void AdjustSaturation(Span<byte> rgb, double factor)
    {
        float a = (float)factor;
        for (int i = 0; i < rgb.Length; i += 3)
        {
            byte l = Luma(rgb[i], rgb[i + 1], rgb[i + 2]);
            rgb[i] = Blend(l, rgb[i], a);
            rgb[i + 1] = Blend(l, rgb[i + 1], a);
            rgb[i + 2] = Blend(l, rgb[i + 2], a);
        }
    }

    /// <summary>
    /// torchvision F_pil.adjust_hue: H of PIL's HSV plus np.uint8(hue_factor * 255) modulo 256 (the float truncated
    /// toward zero, then wrapped), back to RGB.
    /// </summary>
    public static void AdjustHue(Span<byte> rgb, double hueFactor)
    {
        if (!(hueFactor >= -0.5 && hueFactor <= 0.5)) throw new ArgumentOutOfRangeException(nameof(hueFactor), hueFactor, "hue factor must be in [-0.5, 0.5]");
        byte shift = unchecked((byte)(int)(hueFactor * 255));
        for (int i = 0; i < rgb.Length; i += 3)
        {
            var (h, s, v) = RgbToHsv(rgb[i], rgb[i + 1], rgb[i + 2]);
            (rgb[i], rgb[i + 1], rgb[i + 2]) = HsvToRgb(unchecked((byte)(h + shift)), s, v);
        }
    }

    /// <summary>Convert.c rgb2hsv_row (8-bit H, S, V; H on 0..255).</summary>
    public static (byte H, byte S, byte V) RgbToHsv(byte r, byte g, byte b)
    {
        byte maxc = Math.Max(r, Math.Max(g, b)), minc = Math.Min(r, Math.Min(g, b));
        if (minc == maxc) return (0, 0, maxc);
        float cr = maxc - minc;
        float s = cr / maxc;
        float rc = (maxc - r) / cr, gc = (maxc - g) / cr, bc = (maxc - b) / cr;
        float h;
        if (r == maxc) h = bc - gc;
        else if (g == maxc) h = (float)(2.0 + rc - bc);
        else h = (float)(4.0 + gc - rc);
        h = (float)((h / 6.0 + 1.0) % 1.0);   // C fmod: the remainder truncated toward zero
        return (Clip8((int)(h * 255.0)), Clip8((int)(s * 255.0)), maxc);
    }

    /// <summary>Convert.c hsv2rgb.</summary>
    public static (byte R, byte G, byte B) HsvToRgb(byte h, byte s, byte v)
    {
        if (s == 0) return (v, v, v);
        int i = (int)Math.Floor((float)h * 6.0 / 255.0);
        float f = (float)((float)h * 6.0 / 255.0 - (float)i);
        float fs = (float)((float)s / 255.0);
        byte p = Clip8((int)Math.Round((float)v * (1.0 - fs), MidpointRounding.AwayFromZero));
        byte q = Clip8((int)Math.Round((float)v * (1.0 - fs * f), MidpointRounding.AwayFromZero));
        byte t = Clip8((int)Math.Round((float)v * (1.0 - fs * (1.0 - f)), MidpointRounding.AwayFromZero));
        return (i % 6) switch
        {
            0 => (v, t, p),
            1 => (q, v, p),
            2 => (p, v, t),
            3 => (p, q, v),
            4 => (t, p, v),
            _ => (v, p, q),
        };
    }

    private static byte Clip8(int v) => v <= 0 ? (byte)0 : v >= 255 ? (byte)255 : (byte)v;
}
