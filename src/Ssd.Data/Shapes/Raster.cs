namespace Ssd.Data.Shapes;

/// <summary>
/// A region of the plane that the <see cref="Raster"/> fills: a point test and the region's bounding box. Pixel
/// (x, y) covers [x, x + 1) x [y, y + 1); its coverage is the fraction of <see cref="Raster.Samples"/> x
/// <see cref="Raster.Samples"/> evenly spaced points inside the region (anti-aliasing).
/// </summary>
internal interface IRegion
{
    /// <summary>Whether the point lies inside.</summary>
    bool Contains(double x, double y);

    /// <summary>The region's tight box: min x, min y, max x, max y.</summary>
    (double X1, double Y1, double X2, double Y2) Bounds { get; }

    /// <summary>False only when the pixel whose centre is given surely has no sample inside (a fast reject).</summary>
    bool MayCover(double cx, double cy) => true;
}

/// <summary>A filled disc.</summary>
internal sealed record Disc(double Cx, double Cy, double R) : IRegion
{
    public bool Contains(double x, double y) => (x - Cx) * (x - Cx) + (y - Cy) * (y - Cy) <= R * R;
    public (double X1, double Y1, double X2, double Y2) Bounds => (Cx - R, Cy - R, Cx + R, Cy + R);
}

/// <summary>A filled ellipse with semi-axes A, B, its A axis at <c>Angle</c> radians from the x axis.</summary>
internal sealed record Ellipse(double Cx, double Cy, double A, double B, double Angle) : IRegion
{
    public bool Contains(double x, double y)
    {
        double dx = x - Cx, dy = y - Cy, c = Math.Cos(Angle), s = Math.Sin(Angle);
        double u = (c * dx + s * dy) / A, v = (-s * dx + c * dy) / B;
        return u * u + v * v <= 1;
    }

    public (double X1, double Y1, double X2, double Y2) Bounds
    {
        get
        {
            double c = Math.Cos(Angle), s = Math.Sin(Angle);
            double hx = Math.Sqrt(A * A * c * c + B * B * s * s), hy = Math.Sqrt(A * A * s * s + B * B * c * c);
            return (Cx - hx, Cy - hy, Cx + hx, Cy + hy);
        }
    }
}

/// <summary>A segment drawn with a width: the points within Width / 2 of it.</summary>
internal sealed record Stroke(double X0, double Y0, double X1, double Y1, double Width) : IRegion
{
    public bool Contains(double x, double y) => Distance2(x, y) <= Width * Width / 4;

    // A sample lies within 0.75 px of its pixel's centre (0.53 for 4 x 4 samples).
    public bool MayCover(double cx, double cy) => Distance2(cx, cy) <= (Width / 2 + 0.75) * (Width / 2 + 0.75);

    private double Distance2(double x, double y)
    {
        double dx = X1 - X0, dy = Y1 - Y0, len2 = dx * dx + dy * dy;
        double t = len2 == 0 ? 0 : Math.Clamp(((x - X0) * dx + (y - Y0) * dy) / len2, 0, 1);
        double ex = x - (X0 + t * dx), ey = y - (Y0 + t * dy);
        return ex * ex + ey * ey;
    }

    public (double X1, double Y1, double X2, double Y2) Bounds =>
        (Math.Min(X0, X1) - Width / 2, Math.Min(Y0, Y1) - Width / 2, Math.Max(X0, X1) + Width / 2, Math.Max(Y0, Y1) + Width / 2);
}

/// <summary>A filled simple polygon (convex or not: the even-odd rule), vertices in order.</summary>
internal sealed class Polygon(IReadOnlyList<(double X, double Y)> points) : IRegion
{
    public IReadOnlyList<(double X, double Y)> Points { get; } = points;

    public bool Contains(double x, double y)
    {
        bool inside = false;
        for (int i = 0, j = Points.Count - 1; i < Points.Count; j = i++)
        {
            var (xi, yi) = Points[i];
            var (xj, yj) = Points[j];
            if ((yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) inside = !inside;
        }
        return inside;
    }

    public (double X1, double Y1, double X2, double Y2) Bounds =>
        (Points.Min(p => p.X), Points.Min(p => p.Y), Points.Max(p => p.X), Points.Max(p => p.Y));
}

/// <summary>
/// A small managed rasteriser over an RGB byte image (row-major, 3 bytes a pixel): fills regions in a colour with
/// supersampled anti-aliasing. No image library: it draws the shapes data set.
/// </summary>
internal sealed class Raster(int width, int height, byte[] rgb)
{
    /// <summary>Sample points per pixel side (Samples x Samples per pixel).</summary>
    public const int Samples = 4;

    public int Width { get; } = width;
    public int Height { get; } = height;
    public byte[] Rgb { get; } = rgb;

    /// <summary>Blends the colour over every pixel the region covers, by its coverage.</summary>
    public void Fill(IRegion region, (byte R, byte G, byte B) colour)
    {
        var (bx1, by1, bx2, by2) = region.Bounds;
        int x0 = Math.Max(0, (int)Math.Floor(bx1)), y0 = Math.Max(0, (int)Math.Floor(by1));
        int x1 = Math.Min(Width - 1, (int)Math.Ceiling(bx2)), y1 = Math.Min(Height - 1, (int)Math.Ceiling(by2));
        const double step = 1.0 / Samples;
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++)
            {
                if (!region.MayCover(x + 0.5, y + 0.5)) continue;
                int hits = 0;
                for (int sy = 0; sy < Samples; sy++)
                    for (int sx = 0; sx < Samples; sx++)
                        if (region.Contains(x + (sx + 0.5) * step, y + (sy + 0.5) * step)) hits++;
                if (hits == 0) continue;
                double a = hits / (double)(Samples * Samples);
                int at = 3 * (y * Width + x);
                Rgb[at] = Blend(Rgb[at], colour.R, a);
                Rgb[at + 1] = Blend(Rgb[at + 1], colour.G, a);
                Rgb[at + 2] = Blend(Rgb[at + 2], colour.B, a);
            }
    }

    private static byte Blend(byte under, byte over, double a) => (byte)Math.Round(under + (over - under) * a);
}
