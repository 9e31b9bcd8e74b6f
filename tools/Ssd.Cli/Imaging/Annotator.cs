using Ssd.Engine.Imaging;

namespace Ssd.Cli.Imaging;

/// <summary>One box to draw: corners in image pixels, a class (for the colour) and its label text.</summary>
public readonly record struct Annotation(float XMin, float YMin, float XMax, float YMax, int ClassId, string Label);

/// <summary>Draws detections onto an image: a rectangle per box in its class colour and a label above it.</summary>
public static class Annotator
{
    private static readonly (byte R, byte G, byte B)[] palette =
    [
        (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
        (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255), (170, 110, 40), (128, 0, 0),
        (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128), (128, 128, 128), (255, 255, 255),
    ];

    public static (byte R, byte G, byte B) ClassColour(int classId) => palette[(int)((uint)classId % (uint)palette.Length)];

    public static void Draw(RgbImage image, IEnumerable<Annotation> annotations, int thickness = 2)
    {
        foreach (var a in annotations)
        {
            int x0 = (int)MathF.Round(a.XMin), y0 = (int)MathF.Round(a.YMin), x1 = (int)MathF.Round(a.XMax), y1 = (int)MathF.Round(a.YMax);
            var colour = ClassColour(a.ClassId);
            DrawRectangle(image, x0, y0, x1, y1, colour, thickness);
            if (a.Label.Length > 0) DrawLabel(image, x0, y0, a.Label, colour);
        }
    }

    /// <summary>A rectangle outline whose border is <paramref name="thickness"/> pixels inside [x0, x1] x [y0, y1], clipped to the image.</summary>
    public static void DrawRectangle(RgbImage image, int x0, int y0, int x1, int y1, (byte R, byte G, byte B) colour, int thickness = 2)
    {
        if (thickness < 1) throw new ArgumentException($"rectangle thickness {thickness} must be at least 1");
        if (x1 < x0) (x0, x1) = (x1, x0);
        if (y1 < y0) (y0, y1) = (y1, y0);
        int t = thickness - 1;
        Fill(image, x0, y0, x1, Math.Min(y0 + t, y1), colour);          // top
        Fill(image, x0, Math.Max(y1 - t, y0), x1, y1, colour);          // bottom
        Fill(image, x0, y0, Math.Min(x0 + t, x1), y1, colour);          // left
        Fill(image, Math.Max(x1 - t, x0), y0, x1, y1, colour);          // right
    }

    /// <summary>Fills [x0, x1] x [y0, y1] (inclusive), clipped to the image.</summary>
    public static void Fill(RgbImage image, int x0, int y0, int x1, int y1, (byte R, byte G, byte B) colour)
    {
        x0 = Math.Max(x0, 0); y0 = Math.Max(y0, 0);
        x1 = Math.Min(x1, image.Width - 1); y1 = Math.Min(y1, image.Height - 1);
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++) image[x, y] = colour;
    }

    /// <summary>Text in the 5x7 font with its top-left corner at (x, y), each font pixel a scale x scale square.</summary>
    public static void DrawText(RgbImage image, int x, int y, string text, (byte R, byte G, byte B) colour, int scale = 1)
    {
        if (scale < 1) throw new ArgumentException($"text scale {scale} must be at least 1");
        for (int i = 0; i < text.Length; i++)
        {
            var glyph = BitmapFont5x7.Glyph(text[i]);
            int gx = x + i * BitmapFont5x7.Advance * scale;
            for (int row = 0; row < BitmapFont5x7.GlyphHeight; row++)
                for (int col = 0; col < BitmapFont5x7.GlyphWidth; col++)
                    if ((glyph[row] >> (BitmapFont5x7.GlyphWidth - 1 - col) & 1) != 0)
                        Fill(image, gx + col * scale, y + row * scale, gx + col * scale + scale - 1, y + row * scale + scale - 1, colour);
        }
    }

    /// <summary>A filled tag in the class colour just above the box (inside it when the box touches the top), with readable text.</summary>
    public static void DrawLabel(RgbImage image, int x, int y, string text, (byte R, byte G, byte B) colour)
    {
        int w = BitmapFont5x7.TextWidth(text) + 4, h = BitmapFont5x7.GlyphHeight + 4;
        int top = y - h >= 0 ? y - h : y;
        Fill(image, x, top, x + w - 1, top + h - 1, colour);
        bool light = 0.299 * colour.R + 0.587 * colour.G + 0.114 * colour.B > 140;
        DrawText(image, x + 2, top + 2, text, light ? ((byte)0, (byte)0, (byte)0) : ((byte)255, (byte)255, (byte)255));
    }
}
